// Package vaultstore keeps Sidekey's secrets in HashiCorp Vault KV v2 under
// <mount>/data/<prefix>/orgs/<org>/domains/<domain>/secrets/<alias>
// (SPEC §2). It is the only package that imports vault/api.
//
// CONTRACT (fixed by the lead; adminapi and proxy are written against it).
package vaultstore

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"
)

// errNotBuilt marks the stubs; the vaultstore issue replaces them.
var errNotBuilt = errors.New("vaultstore: not built yet")

// AuthConfig selects how the store logs in to Vault.
type AuthConfig struct {
	// Method is "token" (default), "approle" or "kubernetes".
	Method string
	// Token, or TokenFile; when both are empty VAULT_TOKEN is used.
	Token     string
	TokenFile string
	// AppRole.
	RoleID       string
	SecretID     string
	SecretIDFile string
	// Kubernetes.
	Role    string
	JWTFile string // default /var/run/secrets/kubernetes.io/serviceaccount/token
	// MountPath of the auth method (default "approle" or "kubernetes").
	MountPath string
}

// Config configures a Store. Zero fields take the defaults; Address and the
// TLS settings also come from the standard VAULT_* environment variables.
type Config struct {
	Address string // default: VAULT_ADDR
	CACert  string // PEM file for Vault's TLS; default VAULT_CACERT
	Mount   string // KV v2 mount, default "secret"
	Prefix  string // default "sidekey"
	Auth    AuthConfig
	// Timeout bounds one Vault call when the caller's ctx has no deadline.
	Timeout time.Duration
	Logger  *zap.Logger
}

// Metadata describes a secret without its value.
type Metadata struct {
	Alias        string
	Type         secret.Type
	AllowedHosts []string
	// JSONKeys are the top-level keys of a json secret, recorded at write
	// time for the Macro Manager.
	JSONKeys  []string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int
}

// CreateInput is a new secret. Alias is normalised (lower-cased) by Create.
type CreateInput struct {
	Alias        string
	Type         secret.Type
	Value        secret.Value
	AllowedHosts []string
	Actor        string
}

// RotateInput replaces a secret's value. Type, when set, must equal the
// stored type (else ErrTypeLocked). AllowedHosts nil keeps the current list.
type RotateInput struct {
	Type         secret.Type
	Value        secret.Value
	AllowedHosts *[]string
	Actor        string
}

// Store reads and writes secrets in Vault.
type Store struct {
	cfg Config
}

// New connects to Vault and logs in. Call Run to keep the token renewed.
func New(ctx context.Context, cfg Config) (*Store, error) { return nil, errNotBuilt }

// Run renews (and re-obtains) the Vault token until ctx ends.
func (s *Store) Run(ctx context.Context) error { return errNotBuilt }

// Ping checks that Vault answers and the store's token is valid.
func (s *Store) Ping(ctx context.Context) error { return errNotBuilt }

// Create stores a new secret (check-and-set create-only): ErrAliasTaken when
// an active secret has the alias; an archived alias is created anew.
func (s *Store) Create(ctx context.Context, t secret.Tenant, in CreateInput) (Metadata, error) {
	return Metadata{}, errNotBuilt
}

// Rotate replaces the value (and optionally allowed_hosts).
func (s *Store) Rotate(ctx context.Context, t secret.Tenant, alias string, in RotateInput) (Metadata, error) {
	return Metadata{}, errNotBuilt
}

// Archive soft-deletes the current version and records who and when.
func (s *Store) Archive(ctx context.Context, t secret.Tenant, alias, actor string) error {
	return errNotBuilt
}

// List returns the tenant's active secrets sorted by alias.
func (s *Store) List(ctx context.Context, t secret.Tenant) ([]Metadata, error) {
	return nil, errNotBuilt
}

// Get returns one active secret's metadata.
func (s *Store) Get(ctx context.Context, t secret.Tenant, alias string) (Metadata, error) {
	return Metadata{}, errNotBuilt
}

// Read returns an active secret's value, for the proxy only.
func (s *Store) Read(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error) {
	return secret.Secret{}, errNotBuilt
}
