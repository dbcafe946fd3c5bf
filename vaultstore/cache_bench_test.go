package vaultstore

import (
	"context"
	"testing"
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
