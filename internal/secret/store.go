package secret

import (
	"errors"
	"time"
)

// Errors of the secret store that callers test with errors.Is.
var (
	// ErrAliasTaken: an active secret already has the alias.
	ErrAliasTaken = errors.New("alias taken")
	// ErrTypeLocked: a rotation tried to change the type.
	ErrTypeLocked = errors.New("type locked")
	// ErrConflict: a concurrent writer changed the secret (check-and-set).
	ErrConflict = errors.New("concurrent update")
	// ErrPermission: the store's backend refused its credentials.
	ErrPermission = errors.New("permission denied")
)

// Metadata describes a secret without its value.
type Metadata struct {
	Alias        string
	Type         Type
	AllowedHosts []string
	// JSONKeys are the top-level keys of a json secret, recorded at write
	// time for the Macro Manager.
	JSONKeys  []string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int
}

// CreateInput is a new secret. Alias is normalised (lower-cased) by the store's Create.
type CreateInput struct {
	Alias        string
	Type         Type
	Value        Value
	AllowedHosts []string
	Actor        string
}

// RotateInput replaces a secret's value. Type, when set, must equal the
// stored type (else ErrTypeLocked). AllowedHosts nil keeps the current list.
type RotateInput struct {
	Type         Type
	Value        Value
	AllowedHosts *[]string
	Actor        string
}

// Rotated is the outcome of a rotation: the secret before and after.
type Rotated struct {
	Prior, Current Metadata
}
