package vaultstore

import (
	"context"

	"github.com/sidekey/sidekey/internal/secret"
)

// testStore is one login used in both roles, as the package's tests need:
// a Writer, plus the Reader's Read and feed poll on the same Client. The
// token it logs in with decides what Vault allows.
type testStore struct{ *Writer }

// openStore logs in to Vault with cfg.
func openStore(ctx context.Context, cfg Config) (*testStore, error) {
	w, err := connect[Writer](ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &testStore{Writer: w}, nil
}

// reader is the Reader on s's Client.
func (s *testStore) reader() *Reader { return &Reader{Client: s.Client} }

func (s *testStore) Read(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error) {
	return s.reader().Read(ctx, t, alias)
}

func (s *testStore) readChanges(ctx context.Context) (changeLog, error) {
	return s.reader().readChanges(ctx)
}
