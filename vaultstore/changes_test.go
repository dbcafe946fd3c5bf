package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// memFeed is an in-memory KV entry with KV v2 check-and-set semantics.
type memFeed struct {
	mu        sync.Mutex
	data      map[string]any
	version   int
	conflicts int
}

func (m *memFeed) getFeed(context.Context) (changeLog, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := decodeChangeLog(m.data)
	return l, m.version, err
}

func (m *memFeed) putFeed(_ context.Context, l changeLog, cas int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cas != m.version {
		m.conflicts++
		return fmt.Errorf("mem feed: cas %d, version %d: %w", cas, m.version, secret.ErrConflict)
	}
	// Store what Vault would store: the JSON form.
	m.data = feedJSONRoundTrip(l.encode())
	m.version++
	return nil
}

func feedJSONRoundTrip(data map[string]any) map[string]any {
	l, err := decodeChangeLog(data)
	if err != nil {
		panic(err)
	}
	out := make(map[string]any)
	out["seq"] = float64(l.Seq)
	entries := make([]any, len(l.Entries))
	for i, e := range l.Entries {
		entries[i] = map[string]any{"seq": float64(e.Seq), "org": e.Org, "domain": e.Domain, "alias": e.Alias, "at": e.At}
	}
	out["entries"] = entries
	return out
}

func TestAppendChangeConcurrentWriters(t *testing.T) {
	m := &memFeed{}
	// More writers than fit in the feed's ring would lose older entries, so
	// stay at its size; 100+ racing writers each lose many CAS races.
	const writers = feedSize
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	errs := make([]error, writers)
	concurrently(writers, func(i int) {
		_, errs[i] = appendChange(ctx, m, changeEntry{Org: "acme", Domain: "mail", Alias: fmt.Sprintf("a%d", i)})
	})
	var failed int
	for _, err := range errs {
		if err != nil {
			failed++
			t.Log(err)
		}
	}
	l, _, err := m.getFeed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if int(l.Seq) != writers-failed || len(l.Entries) != writers-failed {
		t.Fatalf("seq %d with %d entries, want %d (no append lost)", l.Seq, len(l.Entries), writers-failed)
	}
	if failed > 0 {
		t.Fatalf("%d appends gave up", failed)
	}
	seen := map[string]bool{}
	for _, e := range l.Entries {
		seen[e.Alias] = true
	}
	if len(seen) != writers {
		t.Fatalf("%d distinct aliases in the feed, want %d", len(seen), writers)
	}
	t.Logf("%d check-and-set conflicts retried", m.conflicts)
}

func TestChangeLogBounded(t *testing.T) {
	m := &memFeed{}
	for i := range feedSize + 72 {
		seq, err := appendChange(context.Background(), m, changeEntry{Org: "o", Domain: "d", Alias: fmt.Sprintf("a%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("append %d got seq %d", i, seq)
		}
	}
	l, _, err := m.getFeed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != feedSize || l.Seq != feedSize+72 || l.Entries[0].Seq != 73 {
		t.Fatalf("feed: seq %d, %d entries from %d; want seq %d, %d entries from 73", l.Seq, len(l.Entries), l.Entries[0].Seq, feedSize+72, feedSize)
	}
}

func TestDecodeChangeLog(t *testing.T) {
	tests := []struct {
		name    string
		data    map[string]any
		wantSeq uint64
		wantErr bool
	}{
		{"absent", nil, 0, false},
		{"empty", map[string]any{"seq": 0, "entries": []any{}}, 0, false},
		{"ok", map[string]any{"seq": 7, "entries": []any{
			map[string]any{"seq": 6, "org": "o", "domain": "d", "alias": "a"},
			map[string]any{"seq": 7, "org": "o", "domain": "d", "alias": "b"}}}, 7, false},
		{"gap", map[string]any{"seq": 7, "entries": []any{
			map[string]any{"seq": 5, "org": "o", "domain": "d", "alias": "a"},
			map[string]any{"seq": 7, "org": "o", "domain": "d", "alias": "b"}}}, 7, true},
		{"entry without a sequence", map[string]any{"seq": 0, "entries": []any{
			map[string]any{"seq": 0, "org": "o", "domain": "d", "alias": "a"}}}, 0, true},
		{"wrong type", map[string]any{"seq": "seven"}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := decodeChangeLog(tc.data)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, errMalformedFeed) {
				t.Fatalf("err = %v, want errMalformedFeed", err)
			}
			if l.Seq != tc.wantSeq {
				t.Fatalf("seq = %d, want %d", l.Seq, tc.wantSeq)
			}
		})
	}
}

func TestAppendChangeRepairsMalformedFeed(t *testing.T) {
	m := &memFeed{data: map[string]any{"seq": 9, "entries": "garbage"}, version: 3}
	seq, err := appendChange(context.Background(), m, changeEntry{Org: "o", Domain: "d", Alias: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.getFeed(context.Background()); err != nil {
		t.Fatalf("feed still malformed after an append: %v", err)
	}
	if seq != 1 {
		t.Fatalf("seq = %d, want 1 (a restarted feed)", seq)
	}
}

// syncedCache returns a cache that has done its first feed poll.
func syncedCache(t *testing.T, f *fakeBackend, cfg CacheConfig) (*Cache, *fakeClock) {
	t.Helper()
	c, clk := testCache(t, f, cfg)
	mustPoll(t, c)
	return c, clk
}

// mustPoll polls the change feed once and fails the test if the poll fails.
func mustPoll(t *testing.T, c *Cache) {
	t.Helper()
	if err := c.poll(context.Background()); err != nil {
		t.Fatalf("poll: %v", err)
	}
}

func TestFeedEvictsChangedKeysOnly(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "rotated", "tok-old")
	f.put(cacheTenantA, "kept", "tok-kept")
	f.put(cacheTenantB, "rotated", "tok-other-tenant")
	c, _ := syncedCache(t, f, CacheConfig{})
	mustResolve(t, c, cacheTenantA, "rotated", "tok-old")
	mustResolve(t, c, cacheTenantA, "kept", "tok-kept")
	mustResolve(t, c, cacheTenantB, "rotated", "tok-other-tenant")
	if _, err := c.Resolve(context.Background(), cacheTenantA, "gone"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("gone: err = %v, want ErrNotFound", err)
	}
	reads := f.reads.Load()

	f.put(cacheTenantA, "rotated", "tok-new")
	f.put(cacheTenantA, "gone", "tok-gone-appeared")
	mustPoll(t, c)
	mustResolve(t, c, cacheTenantA, "kept", "tok-kept")
	mustResolve(t, c, cacheTenantB, "rotated", "tok-other-tenant")
	if f.reads.Load() != reads {
		t.Fatal("unchanged keys were evicted")
	}
	mustResolve(t, c, cacheTenantA, "rotated", "tok-new")
	mustResolve(t, c, cacheTenantA, "gone", "tok-gone-appeared")
	if st := c.Stats(); st.Evictions != 1 || st.Flushes != 1 {
		t.Fatalf("stats %+v: want 1 eviction (the not-found is not counted) and only the first-sync flush", st)
	}
}

func TestFeedFlushes(t *testing.T) {
	tests := []struct {
		name   string
		change func(f *fakeBackend)
	}{
		{"fell behind the window", func(f *fakeBackend) {
			for i := range feedSize + 1 {
				f.put(cacheTenantB, fmt.Sprintf("x%d", i), "tok-x")
			}
		}},
		{"feed reset", func(f *fakeBackend) {
			f.mu.Lock()
			f.feed = changeLog{}
			f.mu.Unlock()
		}},
		{"malformed feed", func(f *fakeBackend) {
			f.mu.Lock()
			f.pollErr = fmt.Errorf("bad: %w", errMalformedFeed)
			f.mu.Unlock()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBackend()
			f.put(cacheTenantA, "api", "tok-api")
			c, _ := syncedCache(t, f, CacheConfig{})
			mustResolve(t, c, cacheTenantA, "api", "tok-api")
			tc.change(f)
			_ = c.poll(context.Background())
			if c.Len() != 0 {
				t.Fatalf("Len = %d, want a flushed cache", c.Len())
			}
		})
	}
}

func TestFeedFirstPollFlushes(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "api", "tok-before-sync")
	c, _ := testCache(t, f, CacheConfig{})
	mustResolve(t, c, cacheTenantA, "api", "tok-before-sync")
	mustPoll(t, c)
	if c.Len() != 0 {
		t.Fatal("a value read before the first poll survived it")
	}
	mustResolve(t, c, cacheTenantA, "api", "tok-before-sync")
	mustPoll(t, c)
	if c.Len() != 1 {
		t.Fatal("a poll with no change evicted a value")
	}
}

// An eviction must not be undone by a read that was in flight when the
// change happened: that read may have fetched the old value.
func TestFeedEvictionBeatsReadInFlight(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "api", "tok-in-flight")
	c, _ := syncedCache(t, f, CacheConfig{})
	f.gate = make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Resolve(context.Background(), cacheTenantA, "api")
		done <- err
	}()
	waitUntil(t, func() bool { return c.Stats().Reads == 1 })
	f.put(cacheTenantA, "api", "tok-rotated-meanwhile")
	mustPoll(t, c)
	close(f.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.Len() != 0 {
		t.Fatal("a read that began before an eviction filled the cache")
	}
}

// A successful poll confirms every cached value, so that MaxStale counts
// from the last time the feed was read, not from the value's read.
func TestFeedConfirmsValues(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "api", "tok-confirmed")
	c, clk := syncedCache(t, f, CacheConfig{TTL: time.Hour, MaxStale: time.Minute})
	mustResolve(t, c, cacheTenantA, "api", "tok-confirmed")
	clk.advance(50 * time.Second)
	mustPoll(t, c)
	clk.advance(50 * time.Second) // 100 s after the read, 50 s after the poll
	mustResolve(t, c, cacheTenantA, "api", "tok-confirmed")
	if f.reads.Load() != 1 {
		t.Fatal("a value confirmed by the feed was read again")
	}

	// The feed (and Vault) now fail: the value ages out MaxStale after the
	// last good poll.
	f.setDown(true)
	if err := c.poll(context.Background()); err == nil {
		t.Fatal("poll of an unreachable feed succeeded")
	}
	clk.advance(11 * time.Second)
	if _, err := c.Resolve(context.Background(), cacheTenantA, "api"); !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable past max-stale", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "api", "tok-run")
	c, _ := testCache(t, f, CacheConfig{FeedInterval: time.Millisecond})
	stop := goRun(t, c.Run)
	waitUntil(t, func() bool { return c.Stats().FeedPolls >= 3 })

	// A change is picked up by the loop.
	mustResolve(t, c, cacheTenantA, "api", "tok-run")
	f.put(cacheTenantA, "api", "tok-run-rotated")
	waitUntil(t, func() bool { return c.Len() == 0 })

	stop()
	polls := f.polls.Load()
	time.Sleep(20 * time.Millisecond) // 20 poll intervals
	if f.polls.Load() != polls {
		t.Fatal("the feed was polled after Run returned")
	}
	assertNoGoroutineIn(t, cacheRunFuncs...)
}

// cacheRunFuncs are the functions of Cache.Run and its polls.
var cacheRunFuncs = []string{"vaultstore.(*Cache).Run", "vaultstore.(*Cache).poll"}

// A poll stuck on an unresponsive Vault ends with Run's context.
func TestRunStopsDuringSlowPoll(t *testing.T) {
	b := &blockingFeed{fakeBackend: newFakeBackend(), entered: make(chan struct{}, 1)}
	c, _ := testCache(t, b, CacheConfig{})
	stop := goRun(t, c.Run)
	<-b.entered
	stop()
	assertNoGoroutineIn(t, cacheRunFuncs...)
}

type blockingFeed struct {
	*fakeBackend
	entered chan struct{}
}

func (b *blockingFeed) readChanges(ctx context.Context) (changeLog, error) {
	b.entered <- struct{}{}
	<-ctx.Done()
	return changeLog{}, ctx.Err()
}

// ---- Against the real dev Vault.

// resolvesWithin polls c until check accepts its answer, for at most d after
// the change was made. The bound is the feed's correctness promise ("within
// about two seconds"), not a speed measurement.
func resolvesWithin(t *testing.T, c *Cache, tn secret.Tenant, alias string, d time.Duration, check func(secret.Secret, error) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s, err := c.Resolve(context.Background(), tn, alias)
		if check(s, err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: the change did not reach the cache within %v (last err: %v)", tn, alias, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFeedVaultPropagation(t *testing.T) {
	admin, sidecar, tap, tn := tappedStores(t, vaulttest.Shared(t))
	const cached = 20
	for i := range cached {
		createToken(t, admin, tn, fmt.Sprintf("s%02d", i), fmt.Sprintf("tok-feed-%02d-v1", i))
	}

	c, err := NewCache(sidecar.reader(), CacheConfig{}) // TTL 5m: only the feed can make changes visible
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(goRun(t, c.Run))
	waitUntil(t, func() bool { return c.Stats().FeedPolls >= 1 }) // first sync done
	for i := range cached {
		mustResolve(t, c, tn, fmt.Sprintf("s%02d", i), fmt.Sprintf("tok-feed-%02d-v1", i))
	}

	// Idle: one feed read per poll, and no read per cached secret.
	reads, polls, feedReads := tap.secretReads.Load(), c.Stats().FeedPolls, tap.feedReads.Load()
	waitUntil(t, func() bool { return c.Stats().FeedPolls >= polls+3 })
	dPolls := c.Stats().FeedPolls - polls
	dFeed := tap.feedReads.Load() - feedReads
	if d := tap.secretReads.Load() - reads; d != 0 {
		t.Fatalf("%d Vault reads of secrets while idle with %d cached, want 0", d, cached)
	}
	// ±1: a poll in flight when a counter was sampled.
	if diff := dFeed - int64(dPolls); diff < -1 || diff > 1 {
		t.Fatalf("%d feed reads for %d polls, want one per poll", dFeed, dPolls)
	}

	// Rotate through the admin store: the sidecar's cache serves the new
	// value within 2 s, re-reading only the rotated secret.
	reads = tap.secretReads.Load()
	if _, err := admin.Rotate(context.Background(), tn, "s07", secret.RotateInput{Value: secret.Value{Token: "tok-feed-07-v2-rotated"}, Actor: "cache-test"}); err != nil {
		t.Fatal(err)
	}
	resolvesWithin(t, c, tn, "s07", 2*time.Second, func(s secret.Secret, err error) bool {
		return err == nil && s.Value.Token == "tok-feed-07-v2-rotated"
	})
	for i := range cached {
		if i != 7 {
			mustResolve(t, c, tn, fmt.Sprintf("s%02d", i), fmt.Sprintf("tok-feed-%02d-v1", i))
		}
	}
	if d := tap.secretReads.Load() - reads; d != 1 {
		t.Fatalf("a rotation cost %d Vault reads of secrets, want 1", d)
	}

	// Archive: unusable within 2 s.
	if _, err := admin.Archive(context.Background(), tn, "s03", "cache-test"); err != nil {
		t.Fatal(err)
	}
	resolvesWithin(t, c, tn, "s03", 2*time.Second, func(_ secret.Secret, err error) bool {
		return errors.Is(err, secret.ErrNotFound)
	})

	// Create of an alias that was looked up (and cached as not found).
	if _, err := c.Resolve(context.Background(), tn, "late"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("late: err = %v, want ErrNotFound", err)
	}
	createToken(t, admin, tn, "late", "tok-feed-late")
	resolvesWithin(t, c, tn, "late", 2*time.Second, func(s secret.Secret, err error) bool {
		return err == nil && s.Value.Token == "tok-feed-late"
	})
}

// Admin replicas append concurrently to the real feed with check-and-set:
// no entry is lost and the sequence has no gap.
func TestFeedVaultConcurrentAdmins(t *testing.T) {
	srv := vaulttest.Start(t) // a feed of its own
	token := srv.AdminToken(t)
	admins := []*testStore{stOpen(t, srv.Addr, stToken(token), 0), stOpen(t, srv.Addr, stToken(token), 0)}
	tn := stTenant(t)
	const n = 20
	errs := make([]error, n)
	concurrently(n, func(i int) {
		_, errs[i] = admins[i%2].Create(t.Context(), tn, secret.CreateInput{Alias: fmt.Sprintf("c%02d", i), Type: secret.TypeToken, Value: secret.Value{Token: "tok-concurrent-admin"}})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}

	sidecar := stSidecar(t, srv)
	l, err := sidecar.readChanges(context.Background())
	if err != nil {
		t.Fatalf("the sidecar cannot read the feed: %v", err)
	}
	if l.Seq != n || len(l.Entries) != n {
		t.Fatalf("feed seq %d with %d entries after %d creates, want %d", l.Seq, len(l.Entries), n, n)
	}
	seen := map[string]bool{}
	for _, e := range l.Entries {
		if e.Org != tn.Org || e.Domain != tn.Domain {
			t.Fatalf("entry %d names another tenant", e.Seq)
		}
		seen[e.Alias] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct aliases in the feed, want %d", len(seen), n)
	}
	// The sidecar may read the feed but not write it.
	if err := sidecar.putFeed(context.Background(), l.appended(changeEntry{Org: "x", Domain: "y", Alias: "z"}), n); !errors.Is(err, secret.ErrPermission) {
		t.Fatalf("sidecar write of the feed: err = %v, want ErrPermission", err)
	}
}

// A change that cannot be recorded does not fail the secret write: the
// write is reported as done and the failure is logged, without the value.
func TestFeedVaultRecordFailureKeepsWrite(t *testing.T) {
	srv := vaulttest.Shared(t)
	// The admin policy without the feed paths.
	hcl := filepath.Join(t.TempDir(), "no-feed.hcl")
	rules := `path "secret/data/sidekey/orgs/*" { capabilities = ["create", "update", "delete"] }
path "secret/metadata/sidekey/orgs/*" { capabilities = ["read", "list", "update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }`
	if err := os.WriteFile(hcl, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.WritePolicy(t, "sidekey-admin-no-feed", hcl)
	core, logs := observer.New(zap.WarnLevel)
	admin, err := openStore(context.Background(), Config{
		Address: srv.Addr, Auth: AuthConfig{Token: srv.Token(t, "sidekey-admin-no-feed")}, Logger: zap.New(core),
	})
	if err != nil {
		t.Fatal(err)
	}
	tn := stTenant(t)
	const value = "tok-unrecorded-9d2c"
	createToken(t, admin, tn, "api", value)

	sidecar := stSidecar(t, srv)
	got, err := sidecar.Read(context.Background(), tn, "api")
	if err != nil || got.Value.Token != value {
		t.Fatalf("the secret write was lost: err = %v", err)
	}
	warned := logs.FilterMessageSnippet("change not recorded").All()
	if len(warned) != 1 {
		t.Fatalf("%d warnings about the unrecorded change, want 1", len(warned))
	}
	if line := fmt.Sprint(warned[0].Message, warned[0].ContextMap()); strings.Contains(line, value) {
		t.Fatal("the warning holds the secret value")
	}
}
