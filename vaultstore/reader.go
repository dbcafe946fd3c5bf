package vaultstore

import (
	"context"
	"fmt"

	"github.com/sidekey/sidekey/internal/secret"
)

// Reader reads secret values and the change feed: what the sidecar policy
// (docs/vault.md) allows. The proxy reads through a Cache over it. Run
// (from Client) keeps its token renewed. It is safe for concurrent use.
type Reader struct {
	*Client
}

// NewReader connects to Vault and logs in. Call Run to keep the token
// renewed.
func NewReader(ctx context.Context, cfg Config) (*Reader, error) {
	return connect[Reader](ctx, cfg)
}

// Read returns an active secret's value, for the proxy only. It needs only
// read access to the secret's data (the sidecar policy).
func (s *Reader) Read(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error) {
	alias, err := target(t, alias)
	if err != nil {
		return secret.Secret{}, fmt.Errorf("vaultstore: read: %w", err)
	}
	data, version, err := s.kvRead(ctx, secretRel(t, alias))
	if err != nil {
		return secret.Secret{}, fmt.Errorf("vaultstore: read %s/%s: %w", t, alias, err)
	}
	sec, err := decodeData(data)
	if err != nil {
		return secret.Secret{}, fmt.Errorf("vaultstore: read %s/%s: %w", t, alias, err)
	}
	sec.Version = version
	return sec, nil
}

// readChanges returns the feed with one data read, which the sidecar's
// read-only policy allows.
func (s *Reader) readChanges(ctx context.Context) (changeLog, error) {
	l, _, err := s.getFeed(ctx)
	return l, err
}
