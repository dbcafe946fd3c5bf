package vaultstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"go.uber.org/zap"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sidekey/sidekey/internal/secret"
)

// Cache defaults (docs/cache.md explains the choice of each).
const (
	DefaultCacheTTL          = 5 * time.Minute
	DefaultCacheSize         = 10000
	DefaultCacheNegativeTTL  = 2 * time.Second
	DefaultCacheMaxStale     = 5 * time.Minute
	DefaultCacheFeedInterval = time.Second

	// defaultFetchTimeout bounds one coalesced Vault read (and one feed
	// poll) when the Reader has no Timeout of its own.
	defaultFetchTimeout = 10 * time.Second
	// negativeShare is the part of Size given to not-found entries, which
	// live in an LRU of their own so that a run of unknown aliases cannot
	// push real secrets out.
	negativeShare = 4
)

// CacheConfig configures the proxy's read cache. Zero fields take defaults.
type CacheConfig struct {
	TTL          time.Duration // fresh lifetime of a value, default 5m
	Size         int           // entries, default 10000
	NegativeTTL  time.Duration // lifetime of a not-found, default 2s
	MaxStale     time.Duration // serve stale while Vault is down, default 5m
	FeedInterval time.Duration // change-feed poll, default 1s

	// Registerer, when set, receives the cache's metrics (cachemetrics.go):
	// sidekey_vault_read_seconds by outcome, one observation per Vault read
	// (a coalesced miss counts once, a hit never), and the sidekey_cache_*
	// counters of Stats.
	Registerer prometheus.Registerer

	// OnChange, when set, is called for each secret the change feed
	// reports rotated or archived, after its cached value is dropped (the
	// proxy drops the tokens derived from it). A cache flush (feed reset
	// or fallen behind) does not call it: derived tokens are keyed by the
	// value's version, so none outlives the value it came from.
	OnChange func(t secret.Tenant, alias string)
}

// withDefaults fills zero fields and refuses negative ones.
func (cfg CacheConfig) withDefaults() (CacheConfig, error) {
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	cfg.TTL = cmp.Or(cfg.TTL, DefaultCacheTTL)
	cfg.Size = cmp.Or(cfg.Size, DefaultCacheSize)
	cfg.NegativeTTL = cmp.Or(cfg.NegativeTTL, DefaultCacheNegativeTTL)
	cfg.MaxStale = cmp.Or(cfg.MaxStale, DefaultCacheMaxStale)
	cfg.FeedInterval = cmp.Or(cfg.FeedInterval, DefaultCacheFeedInterval)
	return cfg, nil
}

// backend is what the cache needs of a Reader. *Reader implements it; unit
// tests of the cache logic use a fake.
type backend interface {
	Read(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error)
	readChanges(ctx context.Context) (changeLog, error)
}

var _ backend = (*Reader)(nil)

// cacheKey names one secret. It is comparable, so a lookup hashes three
// strings and allocates nothing.
type cacheKey struct {
	org, domain, alias string
}

// entry is one cached answer. It is immutable once in the cache: a refresh
// replaces the pointer, so a hit reads it without further locking.
type entry struct {
	sec secret.Secret
	err error // the not-found error, for negative entries
	// readAt is when the read that produced the entry started, on the
	// cache's monotonic clock.
	readAt time.Duration
}

// call is one Vault read shared by every Resolve that missed on its key.
type call struct {
	done chan struct{}
	sec  secret.Secret
	err  error
}

// CacheStats are the cache's counters since NewCache.
type CacheStats struct {
	Hits         uint64 // answered from memory, value
	NegativeHits uint64 // answered from memory, not found
	Misses       uint64 // Resolve calls that needed Vault
	Reads        uint64 // Vault reads started (coalesced misses count once)
	StaleServed  uint64 // values served past their TTL because Vault was unreachable
	Unavailable  uint64 // Resolve calls answered with ErrUnavailable
	Evictions    uint64 // entries evicted by the change feed
	Flushes      uint64 // whole-cache flushes (feed window lost, feed reset, first sync)
	FeedPolls    uint64 // successful change-feed polls
	FeedErrors   uint64 // failed change-feed polls
}

type cacheCounters struct {
	hits, negativeHits, misses, reads, staleServed, unavailable atomic.Uint64
	evictions, flushes, feedPolls, feedErrors                   atomic.Uint64
}

// Cache is the proxy's read-through cache over a Reader.
//
// A fresh hit takes one mutex, one map lookup and a clock read, and does no
// Vault I/O. Concurrent misses on one key share a single Vault read. When
// Vault cannot be reached, values are served until MaxStale after they were
// last confirmed (by a read, or by a change-feed poll that did not evict
// them); after that Resolve fails with ErrUnavailable. Run follows the
// change feed so that rotations and archives evict within about one poll
// interval. See docs/cache.md.
type Cache struct {
	src          backend
	cfg          CacheConfig
	log          *zap.Logger
	fetchTimeout time.Duration
	clock        func() time.Duration // monotonic time since the cache was made

	mu    sync.Mutex
	pos   *simplelru.LRU[cacheKey, *entry]
	neg   *simplelru.LRU[cacheKey, *entry]
	calls map[cacheKey]*call
	// gen changes with every eviction; a read that started under another
	// gen does not fill the cache, so an eviction is never undone by a read
	// that was in flight when the change happened.
	gen uint64
	// feed position, guarded by mu: the sequence seen last, and whether
	// the first poll has happened.
	feedSeq    uint64
	feedSynced bool

	// feedOK is the clock reading at the start of the last successful feed
	// poll: every entry still cached was current at that moment.
	feedOK atomic.Int64
	// down is set while the last Vault read or feed poll failed for want
	// of Vault; stale values are then served at once rather than after a
	// wait for a read that will fail.
	down atomic.Bool

	stats   cacheCounters
	metrics *cacheMetrics
}

// NewCache returns a cache over r. Call Run to follow the change feed.
func NewCache(r *Reader, cfg CacheConfig) (*Cache, error) {
	if r == nil || r.Client == nil {
		return nil, errors.New("vaultstore: cache: nil reader")
	}
	timeout := r.cfg.Timeout
	if timeout <= 0 {
		timeout = defaultFetchTimeout
	}
	return newCache(r, cfg, r.cfg.Logger, timeout)
}

// newCache builds a cache over any backend; unit tests pass a fake.
func newCache(src backend, cfg CacheConfig, log *zap.Logger, fetchTimeout time.Duration) (*Cache, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	pos, err := simplelru.NewLRU[cacheKey, *entry](cfg.Size, nil)
	if err != nil {
		return nil, fmt.Errorf("vaultstore: cache: %w", err)
	}
	neg, err := simplelru.NewLRU[cacheKey, *entry](max(cfg.Size/negativeShare, 1), nil)
	if err != nil {
		return nil, fmt.Errorf("vaultstore: cache: %w", err)
	}
	epoch := time.Now()
	c := &Cache{
		src:          src,
		cfg:          cfg,
		log:          log.Named("cache"),
		fetchTimeout: fetchTimeout,
		clock:        func() time.Duration { return time.Since(epoch) },
		pos:          pos,
		neg:          neg,
		calls:        make(map[cacheKey]*call),
	}
	if c.metrics, err = newCacheMetrics(cfg.Registerer, c.Stats); err != nil {
		return nil, err
	}
	return c, nil
}

// Resolve returns the tenant's secret by (lower-case) alias, from the cache
// when fresh, else from Vault (one read for concurrent misses).
//
// The returned Secret shares its AllowedHosts and JSON with the cache: the
// caller must treat them as read-only. Errors wrap ErrNotFound (unknown or
// archived alias) or ErrUnavailable (Vault unreachable and no usable cached
// value); no error carries a value.
func (c *Cache) Resolve(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error) {
	a, err := secret.NormalizeAlias(alias)
	if err != nil {
		return secret.Secret{}, fmt.Errorf("vaultstore: resolve %s: invalid alias: %w", t, secret.ErrNotFound)
	}
	k := cacheKey{org: t.Org, domain: t.Domain, alias: a}
	now := c.clock()

	c.mu.Lock()
	e, ok := c.pos.Get(k)
	if !ok {
		if n, nok := c.neg.Get(k); nok && now < n.readAt+c.cfg.NegativeTTL {
			c.mu.Unlock()
			c.stats.negativeHits.Add(1)
			return secret.Secret{}, n.err
		}
	}
	c.mu.Unlock()

	if ok && c.fresh(e, now) {
		c.stats.hits.Add(1)
		return e.sec, nil
	}
	c.stats.misses.Add(1)
	return c.miss(ctx, k, t, e)
}

// confirmedAt is the last moment e is known to have been current.
func (c *Cache) confirmedAt(e *entry) time.Duration {
	return max(e.readAt, time.Duration(c.feedOK.Load()))
}

// fresh reports whether e may be served without asking Vault: within its
// TTL, and confirmed within MaxStale (which only bites while the change
// feed is failing).
func (c *Cache) fresh(e *entry, now time.Duration) bool {
	return now < e.readAt+c.cfg.TTL && now < c.confirmedAt(e)+c.cfg.MaxStale
}

// usable reports whether e may still be served while Vault is unreachable.
func (c *Cache) usable(e *entry, now time.Duration) bool {
	return e != nil && now < c.confirmedAt(e)+c.cfg.MaxStale
}

// miss reads k from Vault (sharing a read in flight) and falls back to the
// stale entry, if usable, when Vault cannot be reached.
func (c *Cache) miss(ctx context.Context, k cacheKey, t secret.Tenant, stale *entry) (secret.Secret, error) {
	if stale != nil && c.down.Load() && c.usable(stale, c.clock()) {
		// Vault is known to be unreachable: answer now and let one
		// background read find out whether it is back.
		c.start(k, t)
		c.stats.staleServed.Add(1)
		return stale.sec, nil
	}
	cl := c.start(k, t)
	select {
	case <-cl.done:
		if cl.err == nil {
			return cl.sec, nil
		}
		if !unavailable(cl.err) {
			return secret.Secret{}, cl.err
		}
		if c.usable(stale, c.clock()) {
			c.stats.staleServed.Add(1)
			return stale.sec, nil
		}
		c.stats.unavailable.Add(1)
		if errors.Is(cl.err, secret.ErrUnavailable) {
			return secret.Secret{}, cl.err
		}
		return secret.Secret{}, fmt.Errorf("vaultstore: read %s/%s: %w: %w", t, k.alias, secret.ErrUnavailable, cl.err)
	case <-ctx.Done():
		if c.usable(stale, c.clock()) {
			c.stats.staleServed.Add(1)
			return stale.sec, nil
		}
		c.stats.unavailable.Add(1)
		return secret.Secret{}, fmt.Errorf("vaultstore: read %s/%s: %w: %w", t, k.alias, secret.ErrUnavailable, context.Cause(ctx))
	}
}

// unavailable reports whether err means Vault could not answer (as opposed
// to answering "not found" or "permission denied", which are not grounds for
// serving a stale value).
func unavailable(err error) bool {
	return errors.Is(err, secret.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// start returns the read in flight for k, starting one if there is none.
// The read runs on its own goroutine with its own context and deadline: a
// caller that gives up does not fail the others waiting on it, and no
// caller's (request-scoped) context is kept beyond its Resolve.
func (c *Cache) start(k cacheKey, t secret.Tenant) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.calls[k]; ok {
		return cl
	}
	// A read may have finished between the caller's lookup and now: its
	// result went into the cache before its call left the map (both under
	// mu), so look again rather than read twice.
	now := c.clock()
	if e, ok := c.pos.Peek(k); ok && c.fresh(e, now) {
		cl := &call{done: make(chan struct{}), sec: e.sec}
		close(cl.done)
		return cl
	}
	if n, ok := c.neg.Peek(k); ok && now < n.readAt+c.cfg.NegativeTTL {
		cl := &call{done: make(chan struct{}), err: n.err}
		close(cl.done)
		return cl
	}
	cl := &call{done: make(chan struct{})}
	c.calls[k] = cl
	c.stats.reads.Add(1)
	go c.fetch(k, t, cl, c.gen)
	return cl
}

// fetch does one Vault read for k and fills the cache with its answer,
// unless an eviction happened meanwhile.
func (c *Cache) fetch(k cacheKey, t secret.Tenant, cl *call, gen uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), c.fetchTimeout)
	defer cancel()
	begun := c.clock()
	cl.sec, cl.err = c.src.Read(ctx, t, k.alias)
	c.metrics.observeRead(c.clock()-begun, cl.err)

	c.mu.Lock()
	switch {
	case cl.err == nil:
		c.down.Store(false)
		if c.gen == gen {
			c.pos.Add(k, &entry{sec: cl.sec, readAt: begun})
			c.neg.Remove(k)
		}
	case errors.Is(cl.err, secret.ErrNotFound):
		c.down.Store(false)
		c.pos.Remove(k)
		if c.gen == gen {
			c.neg.Add(k, &entry{err: cl.err, readAt: begun})
		}
	case unavailable(cl.err):
		if !c.down.Swap(true) {
			c.log.Warn("vault unreachable; serving cached values within max-stale",
				zap.Stringer("tenant", t), zap.String("alias", k.alias), zap.Error(cl.err))
		}
	}
	delete(c.calls, k)
	c.mu.Unlock()
	close(cl.done)
}

// flushLocked drops every entry; c.mu is held.
func (c *Cache) flushLocked() {
	c.gen++
	c.pos.Purge()
	c.neg.Purge()
	c.stats.flushes.Add(1)
}

// Len returns the number of cached values (not counting not-found answers).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos.Len()
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	s := &c.stats
	return CacheStats{
		Hits:         s.hits.Load(),
		NegativeHits: s.negativeHits.Load(),
		Misses:       s.misses.Load(),
		Reads:        s.reads.Load(),
		StaleServed:  s.staleServed.Load(),
		Unavailable:  s.unavailable.Load(),
		Evictions:    s.evictions.Load(),
		Flushes:      s.flushes.Load(),
		FeedPolls:    s.feedPolls.Load(),
		FeedErrors:   s.feedErrors.Load(),
	}
}
