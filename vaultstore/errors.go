package vaultstore

import (
	"errors"

	"github.com/sidekey/sidekey/internal/secret"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotFound: unknown or archived alias.
	ErrNotFound = secret.ErrNotFound
	// ErrUnavailable: Vault could not be reached (after retries) or is
	// sealed, and no usable cached value exists.
	ErrUnavailable = secret.ErrUnavailable
	// ErrAliasTaken: an active secret already has the alias.
	ErrAliasTaken = errors.New("alias taken")
	// ErrTypeLocked: a rotation tried to change the type.
	ErrTypeLocked = errors.New("type locked")
	// ErrConflict: a concurrent writer changed the secret (check-and-set).
	ErrConflict = errors.New("concurrent update")
	// ErrPermission: Vault refused the token (403).
	ErrPermission = errors.New("permission denied")
)
