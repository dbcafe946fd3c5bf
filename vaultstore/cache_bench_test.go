package vaultstore

import (
	"context"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// BenchmarkCacheHit measures Resolve on a fresh entry: no Vault I/O, and the
// target is ≤ 200 ns and 0 allocations (docs/BENCHMARKS.md, ## Cache).
func BenchmarkCacheHit(b *testing.B) {
	benchOp(b, false, resolveOp(benchHitCache(b), cacheTenantA))
}

// BenchmarkCacheHitParallel is the hit path with every core resolving.
func BenchmarkCacheHitParallel(b *testing.B) {
	benchOp(b, true, resolveOp(benchHitCache(b), cacheTenantA))
}

// resolveOp resolves tn's weather_fx through c.
func resolveOp(c *Cache, tn secret.Tenant) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.Resolve(ctx, tn, "weather_fx")
		return err
	}
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
	tn := secret.Tenant{Org: "bench", Domain: "cold"}
	benchSecret(b, stAdmin(b, srv), tn, secret.CreateInput{Value: secret.Value{Token: "tok-bench-cold"}})
	c, err := NewCache(stSidecar(b, srv).reader(), CacheConfig{})
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
