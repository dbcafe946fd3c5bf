package vaultstore

import (
	"context"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// BenchmarkStoreRead measures a cold read: one Read of a token secret from
// the dev Vault over loopback HTTP with the sidecar's policy, as the cache
// does on a miss (docs/BENCHMARKS.md, ## Vault store).
func BenchmarkStoreRead(b *testing.B) {
	s, tn := benchReadStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Read(ctx, tn, "weather_fx"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreReadParallel is cold reads from every core at once.
func BenchmarkStoreReadParallel(b *testing.B) {
	s, tn := benchReadStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Read(ctx, tn, "weather_fx"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchReadStore(b *testing.B) (*testStore, secret.Tenant) {
	b.Helper()
	srv := vaulttest.Shared(b)
	tn := secret.Tenant{Org: "bench", Domain: "read"}
	admin, err := openStore(b.Context(), Config{Address: srv.Addr, Auth: AuthConfig{Token: srv.AdminToken(b)}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Get(b.Context(), tn, "weather_fx"); err != nil {
		if _, err := admin.Create(b.Context(), tn, CreateInput{Alias: "weather_fx", Type: secret.TypeToken,
			Value: secret.Value{Token: "bench-token-value"}, AllowedHosts: []string{"api.weather.com"}}); err != nil {
			b.Fatal(err)
		}
	}
	s, err := openStore(b.Context(), Config{Address: srv.Addr, Auth: AuthConfig{Token: srv.SidecarToken(b)}, Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return s, tn
}
