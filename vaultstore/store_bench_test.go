package vaultstore

import (
	"context"
	"errors"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// BenchmarkStoreRead measures a cold read: one Read of a token secret from
// the dev Vault over loopback HTTP with the sidecar's policy, as the cache
// does on a miss (docs/BENCHMARKS.md, ## Vault store).
func BenchmarkStoreRead(b *testing.B) {
	benchOp(b, false, benchReadOp(b))
}

// BenchmarkStoreReadParallel is cold reads from every core at once.
func BenchmarkStoreReadParallel(b *testing.B) {
	benchOp(b, true, benchReadOp(b))
}

// benchOp runs op b.N times: from one goroutine, or with parallel from
// every core at once.
func benchOp(b *testing.B, parallel bool, op func(context.Context) error) {
	ctx := context.Background()
	b.ReportAllocs()
	if !parallel {
		for b.Loop() {
			if err := op(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchSecret creates the token secret weather_fx of in unless tn has it
// already (benchmark runs share the dev Vault).
func benchSecret(b *testing.B, admin *testStore, tn secret.Tenant, in secret.CreateInput) {
	b.Helper()
	in.Alias, in.Type = "weather_fx", secret.TypeToken
	_, err := admin.Create(b.Context(), tn, in)
	if err != nil && !errors.Is(err, secret.ErrAliasTaken) {
		b.Fatal(err)
	}
}

// benchReadOp reads a token secret with the sidecar's policy.
func benchReadOp(b *testing.B) func(context.Context) error {
	b.Helper()
	srv := vaulttest.Shared(b)
	tn := secret.Tenant{Org: "bench", Domain: "read"}
	benchSecret(b, stAdmin(b, srv), tn, secret.CreateInput{Value: secret.Value{Token: "bench-token-value"}, AllowedHosts: []string{"api.weather.com"}})
	s := stSidecar(b, srv)
	return func(ctx context.Context) error {
		_, err := s.Read(ctx, tn, "weather_fx")
		return err
	}
}
