package vaultstore

import (
	"context"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
)

// CacheConfig configures the proxy's read cache. Zero fields take defaults.
type CacheConfig struct {
	TTL          time.Duration // fresh lifetime of a value, default 5m
	Size         int           // entries, default 10000
	NegativeTTL  time.Duration // lifetime of a not-found, default 2s
	MaxStale     time.Duration // serve stale while Vault is down, default 5m
	FeedInterval time.Duration // change-feed poll, default 1s
}

// Cache is the proxy's read-through cache over a Store.
type Cache struct {
	store *Store
	cfg   CacheConfig
}

// NewCache returns a cache over s. Call Run to follow the change feed.
func NewCache(s *Store, cfg CacheConfig) (*Cache, error) { return nil, errNotBuilt }

// Resolve returns the tenant's secret by (lower-case) alias, from the cache
// when fresh, else from Vault (one read for concurrent misses).
func (c *Cache) Resolve(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error) {
	return secret.Secret{}, errNotBuilt
}

// Run polls the change feed and evicts what changed until ctx ends.
func (c *Cache) Run(ctx context.Context) error { return errNotBuilt }
