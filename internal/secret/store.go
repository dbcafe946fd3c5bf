package secret

import (
	"errors"
	"fmt"
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
	Alias string
	Type  Type
	// Kind is a json secret's credential kind, "" for none.
	Kind         string
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
	Alias string
	Type  Type
	// Kind is an optional credential kind of a json secret; the caller
	// validates the value against it.
	Kind         string
	Value        Value
	AllowedHosts []string
	Actor        string
}

// RotateInput replaces a secret's value. Type, when set, must equal the
// stored type (else ErrTypeLocked). AllowedHosts nil keeps the current list.
type RotateInput struct {
	Type Type
	// Kind, when set, must equal the stored kind (else ErrTypeLocked).
	Kind         string
	Value        Value
	AllowedHosts *[]string
	Actor        string
	// CheckValue, when set, is called with the stored kind and the
	// validated value before anything is written; its error (a
	// *ValidationError) refuses the rotation.
	CheckValue func(kind string, v Value) error
}

// Rotated is the outcome of a rotation: the secret before and after.
type Rotated struct {
	Prior, Current Metadata
}

// Draft is a CreateInput that passed validation: the alias normalised, the
// value checked against its type and normalised, the host globs normalised.
// Only Validate makes one, so a function that takes a Draft needs no check
// of its own.
type Draft struct {
	alias    string
	typ      Type
	kind     string
	value    Value
	hosts    []string
	jsonKeys []string
	actor    string
}

// Alias is the normalised (lower-case) alias.
func (d Draft) Alias() string { return d.alias }

// Type is the secret's type.
func (d Draft) Type() Type { return d.typ }

// Kind is the credential kind of a json secret, "" for none; the caller
// that set it validated the value against it.
func (d Draft) Kind() string { return d.kind }

// Value is the normalised value (JSON compacted).
func (d Draft) Value() Value { return d.value }

// AllowedHosts are the normalised host globs.
func (d Draft) AllowedHosts() []string { return d.hosts }

// JSONKeys are the top-level keys of a json value, nil for other types.
func (d Draft) JSONKeys() []string { return d.jsonKeys }

// Actor is who creates the secret.
func (d Draft) Actor() string { return d.actor }

// Creatable is a new secret as a store's Create takes it: a CreateInput
// (validated on the way in) or a Draft (validated already). Only this
// package implements it.
type Creatable interface {
	draft() (Draft, error)
}

// Validate is the one owner of the rules of a new secret: it returns the
// validated Draft of c, or a *ValidationError naming every bad field.
func Validate(c Creatable) (Draft, error) {
	return c.draft()
}

// Validate checks every field of in and returns its Draft, or a
// *ValidationError naming every bad field.
func (in CreateInput) Validate() (Draft, error) {
	verr := &ValidationError{}
	var ve *ValidationError
	alias, err := NormalizeAlias(in.Alias)
	if err != nil {
		verr.Add("alias", "%s", err.Error())
	}
	value, err := ValidateValue(in.Type, in.Value)
	if errors.As(err, &ve) {
		verr.Fields = append(verr.Fields, ve.Fields...)
	}
	hosts, err := NormalizeHostGlobs("allowed_hosts", in.AllowedHosts)
	if errors.As(err, &ve) {
		verr.Fields = append(verr.Fields, ve.Fields...)
	}
	if err := verr.Err(); err != nil {
		return Draft{}, err
	}
	var keys []string
	if in.Type == TypeJSON {
		if keys, err = ObjectKeys(value.JSON); err != nil {
			return Draft{}, fmt.Errorf("json keys: %w", err)
		}
	}
	return Draft{alias: alias, typ: in.Type, kind: in.Kind, value: value, hosts: hosts, jsonKeys: keys, actor: in.Actor}, nil
}

func (in CreateInput) draft() (Draft, error) { return in.Validate() }

func (d Draft) draft() (Draft, error) { return d, nil }
