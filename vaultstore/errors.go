package vaultstore

import "github.com/sidekey/sidekey/internal/secret"

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotFound: unknown or archived alias.
	ErrNotFound = secret.ErrNotFound
	// ErrUnavailable: Vault could not be reached (after retries) or is
	// sealed, and no usable cached value exists.
	ErrUnavailable = secret.ErrUnavailable
	// ErrAliasTaken: an active secret already has the alias.
	ErrAliasTaken = secret.ErrAliasTaken
	// ErrTypeLocked: a rotation tried to change the type.
	ErrTypeLocked = secret.ErrTypeLocked
	// ErrConflict: a concurrent writer changed the secret (check-and-set).
	ErrConflict = secret.ErrConflict
	// ErrPermission: Vault refused the token (403).
	ErrPermission = secret.ErrPermission
)
