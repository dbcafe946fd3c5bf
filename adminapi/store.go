package adminapi

import (
	"context"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/vaultstore"
)

// Store is what the admin API needs of the secret store. *vaultstore.Writer
// implements it; unit tests use a fake.
type Store interface {
	// Ping checks that the store answers (readiness).
	Ping(ctx context.Context) error
	// List returns the tenant's active secrets sorted by alias.
	List(ctx context.Context, t secret.Tenant) ([]secret.Metadata, error)
	// Get returns one active secret's metadata.
	Get(ctx context.Context, t secret.Tenant, alias string) (secret.Metadata, error)
	// Create stores a new secret, create-only; the API passes a
	// secret.Draft, validated once by secret.CreateInput.Validate.
	Create(ctx context.Context, t secret.Tenant, in secret.Creatable) (secret.Metadata, error)
	// Rotate replaces a secret's value, checked against the stored type,
	// and returns the secret before and after (Prior also on error, once
	// read), so the API reads nothing first.
	Rotate(ctx context.Context, t secret.Tenant, alias string, in secret.RotateInput) (secret.Rotated, error)
	// Archive soft-deletes a secret and returns its metadata.
	Archive(ctx context.Context, t secret.Tenant, alias, actor string) (secret.Metadata, error)
}

var _ Store = (*vaultstore.Writer)(nil)
