package vaultstore

import (
	"context"
	"errors"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// BenchmarkCacheHit measures Resolve on a fresh entry: no Vault I/O, and the
// target is ≤ 200 ns and 0 allocations (docs/BENCHMARKS.md, ## Cache).
func BenchmarkCacheHit(b *testing.B) {
	c := benchHitCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Resolve(ctx, cacheTenantA, "weather_fx"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHitParallel is the hit path with every core resolving.
func BenchmarkCacheHitParallel(b *testing.B) {
	c := benchHitCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Resolve(ctx, cacheTenantA, "weather_fx"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchHitCache(b *testing.B) *Cache {
	b.Helper()
	f := newFakeBackend()
	f.put(cacheTenantA, "weather_fx", "tok-bench")
	c, err := newCache(f, CacheConfig{}, nil, defaultFetchTimeout)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Resolve(context.Background(), cacheTenantA, "weather_fx"); err != nil {
		b.Fatal(err)
	}
	if f.reads.Load() != 1 {
		b.Fatal("the warm-up did not read once")
	}
	b.Cleanup(func() {
		if f.reads.Load() != 1 {
			b.Errorf("hits did Vault reads: %d", f.reads.Load()-1)
		}
	})
	return c
}

// BenchmarkCacheColdRead measures Resolve on a miss: one read of the real
// dev Vault over loopback HTTP (sidecar token), decoding, and filling the
// cache. The cache is flushed before every iteration.
func BenchmarkCacheColdRead(b *testing.B) {
	srv := vaulttest.Shared(b)
	admin, err := openStore(context.Background(), Config{Address: srv.Addr, Auth: AuthConfig{Token: srv.AdminToken(b)}})
	if err != nil {
		b.Fatal(err)
	}
	sidecar, err := openStore(context.Background(), Config{Address: srv.Addr, Auth: AuthConfig{Token: srv.SidecarToken(b)}})
	if err != nil {
		b.Fatal(err)
	}
	tn := secret.Tenant{Org: "bench", Domain: "cold"}
	if _, err := admin.Create(context.Background(), tn, CreateInput{
		Alias: "weather_fx", Type: secret.TypeToken, Value: secret.Value{Token: "tok-bench-cold"},
	}); err != nil && !errors.Is(err, ErrAliasTaken) {
		b.Fatal(err)
	}
	c, err := NewCache(sidecar.reader(), CacheConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.mu.Lock()
		c.flushLocked()
		c.mu.Unlock()
		if _, err := c.Resolve(ctx, tn, "weather_fx"); err != nil {
			b.Fatal(err)
		}
	}
	if st := c.Stats(); st.Reads != st.Misses {
		b.Fatalf("%d misses made %d reads", st.Misses, st.Reads)
	}
}
