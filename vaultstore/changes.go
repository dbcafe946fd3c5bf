package vaultstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"
)

// The change feed (SPEC §4, docs/cache.md): one KV v2 entry at
// <mount>/data/<prefix>/changes holds the newest feedSize changes. Admin
// replicas append with check-and-set; every sidecar reads it once per poll
// interval and evicts what changed since its last poll.
const (
	// feedPath is the feed's path under the prefix.
	feedPath = "changes"
	// feedSize bounds the feed: a sidecar that misses more changes than
	// this between two polls flushes its whole cache. 128 entries of about
	// 90 bytes keep one poll's read near 12 KiB at most.
	feedSize = 128
	// feedRetryStep is the first pause bound after a lost check-and-set
	// race; it doubles per attempt up to feedRetryMax (full jitter). An
	// append retries until its ctx ends (recordTimeout), so many concurrent
	// admin writers delay each other but lose no entry.
	feedRetryStep = 5 * time.Millisecond
	feedRetryMax  = 250 * time.Millisecond
	// recordTimeout bounds recordChange when the caller's ctx has none
	// left: the secret is already written, so the feed gets its own time.
	recordTimeout = 10 * time.Second
)

// changeEntry is one change: the secret (org, domain, alias) was created,
// rotated or archived. It holds no value.
type changeEntry struct {
	Seq    uint64 `json:"seq"`
	Org    string `json:"org"`
	Domain string `json:"domain"`
	Alias  string `json:"alias"`
	At     string `json:"at"` // RFC 3339 UTC, for people reading the feed
}

// changeLog is the feed document: Seq is the sequence of the newest entry
// (0 before the first change) and Entries the newest changes, oldest first,
// with consecutive sequences ending at Seq.
type changeLog struct {
	Seq     uint64        `json:"seq"`
	Entries []changeEntry `json:"entries"`
}

// validate checks the invariant that readers rely on.
func (l changeLog) validate() error {
	if len(l.Entries) > feedSize {
		return fmt.Errorf("%d entries, more than %d", len(l.Entries), feedSize)
	}
	want := l.Seq
	for i := len(l.Entries) - 1; i >= 0; i-- {
		if e := l.Entries[i]; e.Seq != want || want == 0 {
			return fmt.Errorf("entry %d has seq %d, want %d", i, e.Seq, want)
		}
		want--
	}
	return nil
}

// appended returns l with e added as the next sequence, dropping the oldest
// entries beyond feedSize. l is not modified.
func (l changeLog) appended(e changeEntry) changeLog {
	e.Seq = l.Seq + 1
	keep := l.Entries
	if len(keep) >= feedSize {
		keep = keep[len(keep)-feedSize+1:]
	}
	entries := make([]changeEntry, 0, len(keep)+1)
	entries = append(entries, keep...)
	entries = append(entries, e)
	return changeLog{Seq: e.Seq, Entries: entries}
}

// decodeChangeLog turns the KV data of the feed into a changeLog. A nil map
// (no feed yet) is the empty log.
func decodeChangeLog(data map[string]any) (changeLog, error) {
	var l changeLog
	if data == nil {
		return l, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return l, fmt.Errorf("vaultstore: change feed: %w", err)
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return changeLog{}, fmt.Errorf("vaultstore: change feed: %w: %w", errMalformedFeed, err)
	}
	if err := l.validate(); err != nil {
		return changeLog{Seq: l.Seq}, fmt.Errorf("vaultstore: change feed: %w: %w", errMalformedFeed, err)
	}
	return l, nil
}

// encode returns the KV data of l.
func (l changeLog) encode() map[string]any {
	entries := l.Entries
	if entries == nil {
		entries = []changeEntry{}
	}
	return map[string]any{"seq": l.Seq, "entries": entries}
}

// feedKV is the check-and-set access to the feed document that an append
// needs. *Writer implements it over Vault; tests use an in-memory one.
type feedKV interface {
	// getFeed returns the feed and its KV version (0 when it does not exist).
	getFeed(ctx context.Context) (changeLog, int, error)
	// putFeed writes l if the KV version is still cas, else ErrConflict.
	putFeed(ctx context.Context, l changeLog, cas int) error
}

// appendChange adds e to the feed, re-reading and retrying when another
// writer got in first, until ctx ends, so concurrent admin replicas lose no
// entry.
func appendChange(ctx context.Context, kv feedKV, e changeEntry) (uint64, error) {
	for attempt := 1; ; attempt++ {
		l, version, err := kv.getFeed(ctx)
		if err != nil && !errors.Is(err, errMalformedFeed) {
			return 0, err
		}
		// A malformed feed is replaced by a fresh one that continues its
		// sequence (or restarts it): readers see a gap or a reset and
		// flush, which is always safe.
		next := l.appended(e)
		err = kv.putFeed(ctx, next, version)
		if err == nil {
			return next.Seq, nil
		}
		if !errors.Is(err, secret.ErrConflict) {
			return 0, fmt.Errorf("vaultstore: change feed: append (attempt %d): %w", attempt, err)
		}
		bound := min(feedRetryStep<<min(attempt-1, 16), feedRetryMax)
		pause := time.Duration(rand.Int64N(int64(bound)) + 1) //nolint:gosec // jitter, not a secret
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("vaultstore: change feed: append (attempt %d): %w", attempt, context.Cause(ctx))
		case <-time.After(pause):
		}
	}
}

// errMalformedFeed marks a feed document that does not decode; getFeed
// returns it with the best log it could recover.
var errMalformedFeed = errors.New("malformed change feed")

// recordChange appends (t, alias) to the change feed after a successful
// Create, Rotate or Archive, so that every sidecar evicts it within one poll
// interval.
//
// It always returns nil: the secret write has succeeded and must be reported
// as such. A failure to record is logged (without any value), and the cache
// TTL bounds how long a sidecar may then keep the old value.
func (s *Writer) recordChange(ctx context.Context, t secret.Tenant, alias string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	e := changeEntry{
		Org:    t.Org,
		Domain: t.Domain,
		Alias:  alias,
		At:     time.Now().UTC().Format(time.RFC3339),
	}
	seq, err := appendChange(ctx, s, e)
	if err != nil {
		s.feedLogger().Warn("change feed: change not recorded; sidecars drop their copy when its cache TTL ends",
			zap.Stringer("tenant", t), zap.String("alias", alias), zap.Error(err))
		return nil
	}
	s.feedLogger().Debug("change feed: recorded", zap.Stringer("tenant", t), zap.String("alias", alias), zap.Uint64("seq", seq))
	return nil
}

// Run polls the change feed and evicts what changed until ctx ends; it
// returns nil then. Poll failures are logged and retried at the next tick;
// while they last, cached values age towards MaxStale.
func (c *Cache) Run(ctx context.Context) error {
	tick := time.NewTicker(c.cfg.FeedInterval)
	defer tick.Stop()
	failing := false
	for {
		err := c.poll(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			failing = true
			c.log.Warn("change feed: poll failed; retrying every interval", zap.Error(err))
		case err != nil:
			c.log.Debug("change feed: poll failed", zap.Error(err))
		case failing:
			failing = false
			c.log.Info("change feed: polling again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// poll reads the feed once and applies it.
func (c *Cache) poll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(c.fetchTimeout, max(c.cfg.FeedInterval, time.Second)*5))
	defer cancel()
	begun := c.clock()
	l, err := c.src.readChanges(ctx)
	if errors.Is(err, errMalformedFeed) {
		// Nothing can be told about what changed: drop everything and
		// start again from the feed's sequence.
		c.stats.feedErrors.Add(1)
		c.mu.Lock()
		c.flushLocked()
		c.feedSynced = false
		c.mu.Unlock()
		return err
	}
	if err != nil {
		c.stats.feedErrors.Add(1)
		if unavailable(err) {
			c.down.Store(true)
		}
		return err
	}
	c.apply(l, begun)
	c.stats.feedPolls.Add(1)
	return nil
}

// apply evicts what l says changed since the last poll. begun is when the
// read of l started: every entry left in the cache was current then.
func (c *Cache) apply(l changeLog, begun time.Duration) {
	var changed []changeEntry
	defer func() {
		if c.cfg.OnChange != nil {
			for _, e := range changed {
				c.cfg.OnChange(secret.Tenant{Org: e.Org, Domain: e.Domain}, e.Alias)
			}
		}
	}()
	c.mu.Lock()
	switch {
	case !c.feedSynced:
		// Values read before the first poll may predate any change in
		// the feed: start from a clean cache.
		c.flushLocked()
	case l.Seq == c.feedSeq:
	case l.Seq < c.feedSeq:
		c.log.Warn("change feed: sequence went back (feed reset); flushing the cache",
			zap.Uint64("had", c.feedSeq), zap.Uint64("feed", l.Seq))
		c.flushLocked()
	case len(l.Entries) == 0 || l.Entries[0].Seq > c.feedSeq+1:
		c.log.Info("change feed: fell behind the feed's window; flushing the cache",
			zap.Uint64("had", c.feedSeq), zap.Uint64("feed", l.Seq))
		c.flushLocked()
	default:
		c.gen++
		for _, e := range l.Entries {
			if e.Seq <= c.feedSeq {
				continue
			}
			changed = append(changed, e)
			k := cacheKey{org: e.Org, domain: e.Domain, alias: e.Alias}
			if c.pos.Remove(k) {
				c.stats.evictions.Add(1)
			}
			c.neg.Remove(k)
		}
	}
	c.feedSeq = l.Seq
	c.feedSynced = true
	c.mu.Unlock()
	if int64(begun) > c.feedOK.Load() {
		c.feedOK.Store(int64(begun))
	}
	c.down.Store(false)
}

// feedLogger is the client's logger for change-feed messages.
func (s *Client) feedLogger() *zap.Logger {
	if s.cfg.Logger == nil {
		return zap.NewNop()
	}
	return s.cfg.Logger.Named("changes")
}

// getFeed reads the feed document and its KV version. A feed that does not
// exist yet (or whose current version was deleted by hand) is the empty log,
// at the version a check-and-set write must name.
func (s *Client) getFeed(ctx context.Context) (changeLog, int, error) {
	data, version, err := s.kvRead(ctx, feedPath)
	if errors.Is(err, secret.ErrNotFound) {
		return changeLog{}, version, nil
	}
	if err != nil {
		return changeLog{}, 0, fmt.Errorf("vaultstore: change feed: %w", err)
	}
	l, err := decodeChangeLog(data)
	return l, version, err
}

// putFeed writes the feed document with check-and-set on version cas.
func (s *Writer) putFeed(ctx context.Context, l changeLog, cas int) error {
	_, err := s.kvWrite(ctx, feedPath, l.encode(), cas)
	return err
}
