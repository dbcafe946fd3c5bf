package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// fakeBackend is an in-memory store for the unit tests of the cache logic.
type fakeBackend struct {
	mu      sync.Mutex
	secrets map[cacheKey]secret.Secret
	feed    changeLog
	down    bool          // Read and readChanges fail with ErrUnavailable
	gate    chan struct{} // when set, Read waits for it to close
	reads   atomic.Int64
	polls   atomic.Int64
	pollErr error
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{secrets: make(map[cacheKey]secret.Secret)}
}

func (f *fakeBackend) Read(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error) {
	f.reads.Add(1)
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return secret.Secret{}, fmt.Errorf("fake read: %w", ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return secret.Secret{}, fmt.Errorf("fake read: %w", secret.ErrUnavailable)
	}
	s, ok := f.secrets[cacheKey{t.Org, t.Domain, alias}]
	if !ok {
		return secret.Secret{}, fmt.Errorf("fake read %s/%s: %w", t, alias, secret.ErrNotFound)
	}
	return s, nil
}

func (f *fakeBackend) readChanges(ctx context.Context) (changeLog, error) {
	f.polls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return changeLog{}, fmt.Errorf("fake feed: %w", secret.ErrUnavailable)
	}
	if f.pollErr != nil {
		return changeLog{}, f.pollErr
	}
	return f.feed, nil
}

// put stores a token secret and, like the admin API, appends to the feed.
func (f *fakeBackend) put(t secret.Tenant, alias, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[cacheKey{t.Org, t.Domain, alias}] = secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: token}}
	f.feed = f.feed.appended(changeEntry{Org: t.Org, Domain: t.Domain, Alias: alias})
}

func (f *fakeBackend) remove(t secret.Tenant, alias string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.secrets, cacheKey{t.Org, t.Domain, alias})
	f.feed = f.feed.appended(changeEntry{Org: t.Org, Domain: t.Domain, Alias: alias})
}

func (f *fakeBackend) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// fakeClock drives the cache's monotonic clock by hand.
type fakeClock struct{ now atomic.Int64 }

func (c *fakeClock) read() time.Duration     { return time.Duration(c.now.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.now.Add(int64(d)) }

var (
	cacheTenantA = secret.Tenant{Org: "acme", Domain: "mail"}
	cacheTenantB = secret.Tenant{Org: "acme", Domain: "sms"}
)

func testCache(t *testing.T, f backend, cfg CacheConfig) (*Cache, *fakeClock) {
	t.Helper()
	c, err := newCache(f, cfg, nil, 5*time.Second)
	if err != nil {
		t.Fatalf("newCache: %v", err)
	}
	clk := &fakeClock{}
	c.clock = clk.read
	return c, clk
}

func mustResolve(t *testing.T, c *Cache, tn secret.Tenant, alias, want string) {
	t.Helper()
	got, err := c.Resolve(context.Background(), tn, alias)
	if err != nil {
		t.Fatalf("Resolve(%s, %s): %v", tn, alias, err)
	}
	if got.Value.Token != want {
		// Never print values: compare by length only.
		t.Fatalf("Resolve(%s, %s): token of %d bytes, want the one of %d bytes", tn, alias, len(got.Value.Token), len(want))
	}
}

func TestCacheConfigDefaults(t *testing.T) {
	cfg, err := CacheConfig{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := CacheConfig{TTL: DefaultCacheTTL, Size: DefaultCacheSize, NegativeTTL: DefaultCacheNegativeTTL,
		MaxStale: DefaultCacheMaxStale, FeedInterval: DefaultCacheFeedInterval}
	if !reflect.DeepEqual(cfg, want) { // Registerer stays nil
		t.Fatalf("defaults = %+v, want %+v", cfg, want)
	}
	for _, bad := range []CacheConfig{{TTL: -1}, {Size: -1}, {NegativeTTL: -1}, {MaxStale: -1}, {FeedInterval: -1}} {
		if _, err := newCache(newFakeBackend(), bad, nil, time.Second); err == nil {
			t.Errorf("newCache(%+v) accepted a negative setting", bad)
		}
	}
	if _, err := NewCache(nil, CacheConfig{}); err == nil {
		t.Error("NewCache(nil) returned no error")
	}
}

func TestCacheHitThenTTL(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "weather_fx", "tok-weather-1")
	c, clk := testCache(t, f, CacheConfig{TTL: time.Minute, MaxStale: 10 * time.Minute})

	mustResolve(t, c, cacheTenantA, "weather_fx", "tok-weather-1")
	mustResolve(t, c, cacheTenantA, "Weather_FX", "tok-weather-1") // aliases are case-insensitive
	clk.advance(59 * time.Second)
	mustResolve(t, c, cacheTenantA, "weather_fx", "tok-weather-1")
	if n := f.reads.Load(); n != 1 {
		t.Fatalf("Vault reads within the TTL = %d, want 1", n)
	}

	f.put(cacheTenantA, "weather_fx", "tok-weather-2")
	clk.advance(2 * time.Second)
	mustResolve(t, c, cacheTenantA, "weather_fx", "tok-weather-2")
	if n := f.reads.Load(); n != 2 {
		t.Fatalf("Vault reads after the TTL = %d, want 2", n)
	}
	st := c.Stats()
	if st.Hits != 2 || st.Misses != 2 || st.Reads != 2 {
		t.Fatalf("stats = %+v, want 2 hits, 2 misses, 2 reads", st)
	}
}

func TestCacheTenantsAreSeparate(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "api", "tok-tenant-a")
	f.put(cacheTenantB, "api", "tok-tenant-b-longer")
	c, _ := testCache(t, f, CacheConfig{})
	mustResolve(t, c, cacheTenantA, "api", "tok-tenant-a")
	mustResolve(t, c, cacheTenantB, "api", "tok-tenant-b-longer")
	_, err := c.Resolve(context.Background(), secret.Tenant{Org: "other", Domain: "mail"}, "api")
	if !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("other org: err = %v, want ErrNotFound", err)
	}
}

func TestCacheCoalescesMisses(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "weather_fx", "tok-coalesced")
	f.gate = make(chan struct{})
	c, _ := testCache(t, f, CacheConfig{})

	const n = 100
	resolveTogether(t, c, cacheTenantA, "weather_fx", "tok-coalesced", n, func() { close(f.gate) })
	if got := f.reads.Load(); got != 1 {
		t.Fatalf("Vault reads for %d concurrent misses = %d, want 1", n, got)
	}
}

// resolveTogether resolves alias on n goroutines at once. It calls release
// (which lets the held read answer) only once every caller has missed, so
// that all n wait on the same read, and fails unless each got want.
func resolveTogether(t *testing.T, c *Cache, tn secret.Tenant, alias, want string, n int, release func()) {
	t.Helper()
	errs := make(chan error, n)
	for range n {
		go func() {
			s, err := c.Resolve(context.Background(), tn, alias)
			if err == nil && s.Value.Token != want {
				err = fmt.Errorf("wrong value of %d bytes", len(s.Value.Token))
			}
			errs <- err
		}()
	}
	waitUntil(t, func() bool { return c.Stats().Misses == uint64(n) })
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Resolve(%s, %s): %v", tn, alias, err)
		}
	}
}

// waitUntil polls cond (a state, not a duration) for up to 10 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for range 10000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition not reached")
}

func TestCacheCallerGivingUpDoesNotFailOthers(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "api", "tok-patient")
	f.gate = make(chan struct{})
	c, _ := testCache(t, f, CacheConfig{})

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Resolve(ctx, cacheTenantA, "api")
		first <- err
	}()
	waitUntil(t, func() bool { return c.Stats().Reads == 1 })
	cancel()
	err := <-first
	if !errors.Is(err, secret.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v, want ErrUnavailable wrapping context.Canceled", err)
	}

	second := make(chan error, 1)
	go func() {
		s, err := c.Resolve(context.Background(), cacheTenantA, "api")
		if err == nil && s.Value.Token != "tok-patient" {
			err = errors.New("wrong value")
		}
		second <- err
	}()
	waitUntil(t, func() bool { return c.Stats().Misses == 2 })
	close(f.gate)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := f.reads.Load(); got != 1 {
		t.Fatalf("reads = %d, want 1: the second caller should share the first read", got)
	}
	mustResolve(t, c, cacheTenantA, "api", "tok-patient")
	if got := f.reads.Load(); got != 1 {
		t.Fatalf("reads = %d after a hit, want 1", got)
	}
}

func TestCacheNegative(t *testing.T) {
	f := newFakeBackend()
	c, clk := testCache(t, f, CacheConfig{NegativeTTL: 2 * time.Second})
	for range 3 {
		if _, err := c.Resolve(context.Background(), cacheTenantA, "missing"); !errors.Is(err, secret.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	}
	if got := f.reads.Load(); got != 1 {
		t.Fatalf("reads for a cached not-found = %d, want 1", got)
	}
	f.put(cacheTenantA, "missing", "tok-now-there")
	clk.advance(2 * time.Second)
	mustResolve(t, c, cacheTenantA, "missing", "tok-now-there")
	if st := c.Stats(); st.NegativeHits != 2 {
		t.Fatalf("negative hits = %d, want 2", st.NegativeHits)
	}

	// An invalid alias is not found without asking Vault.
	if _, err := c.Resolve(context.Background(), cacheTenantA, "no spaces"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("invalid alias: err = %v, want ErrNotFound", err)
	}
	if got := f.reads.Load(); got != 2 {
		t.Fatalf("reads = %d, want 2", got)
	}
}

func TestCacheArchivedAfterTTL(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "api", "tok-archived")
	c, clk := testCache(t, f, CacheConfig{TTL: time.Minute})
	mustResolve(t, c, cacheTenantA, "api", "tok-archived")
	f.remove(cacheTenantA, "api")
	clk.advance(time.Minute)
	if _, err := c.Resolve(context.Background(), cacheTenantA, "api"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("archived: err = %v, want ErrNotFound", err)
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d after archive, want 0", c.Len())
	}
}

func TestCacheSizeBound(t *testing.T) {
	f := newFakeBackend()
	for _, a := range []string{"a", "b", "c"} {
		f.put(cacheTenantA, a, "tok-"+a)
	}
	c, _ := testCache(t, f, CacheConfig{Size: 2})
	mustResolve(t, c, cacheTenantA, "a", "tok-a")
	mustResolve(t, c, cacheTenantA, "b", "tok-b")
	mustResolve(t, c, cacheTenantA, "a", "tok-a") // a is now the most recent
	mustResolve(t, c, cacheTenantA, "c", "tok-c") // evicts b
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want 2", c.Len())
	}
	before := f.reads.Load()
	mustResolve(t, c, cacheTenantA, "a", "tok-a")
	if f.reads.Load() != before {
		t.Fatal("a was evicted, but b was the least recently used")
	}
	mustResolve(t, c, cacheTenantA, "b", "tok-b")
	if f.reads.Load() != before+1 {
		t.Fatal("b was not evicted")
	}
}

func TestCacheStaleWhileUnavailable(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	f := newFakeBackend()
	f.put(cacheTenantA, "api", "tok-stale-distinctive-5e1f")
	c, err := newCache(f, CacheConfig{TTL: time.Minute, MaxStale: 5 * time.Minute}, zap.New(core), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{}
	c.clock = clk.read

	mustResolve(t, c, cacheTenantA, "api", "tok-stale-distinctive-5e1f")
	f.setDown(true)

	// Past the TTL: the refresh fails, the stale value is served.
	clk.advance(2 * time.Minute)
	mustResolve(t, c, cacheTenantA, "api", "tok-stale-distinctive-5e1f")
	// Vault now known down: served at once (a background read probes).
	clk.advance(2 * time.Minute)
	mustResolve(t, c, cacheTenantA, "api", "tok-stale-distinctive-5e1f")
	if st := c.Stats(); st.StaleServed != 2 {
		t.Fatalf("stale served = %d, want 2", st.StaleServed)
	}
	// Past MaxStale after the read: store_unavailable.
	clk.advance(time.Minute)
	_, err = c.Resolve(context.Background(), cacheTenantA, "api")
	if !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("past max-stale: err = %v, want ErrUnavailable", err)
	}
	// A value never read is unavailable, not "not found".
	if _, err := c.Resolve(context.Background(), cacheTenantA, "never_read"); !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("uncached while down: err = %v, want ErrUnavailable", err)
	}

	// Vault back: recovers without a restart, with the current value.
	f.put(cacheTenantA, "api", "tok-after-recovery")
	f.setDown(false)
	mustResolve(t, c, cacheTenantA, "api", "tok-after-recovery")

	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, "tok-") {
			t.Fatalf("a log line holds a secret value (line of %d bytes)", len(line))
		}
	}
	if logs.FilterMessageSnippet("vault unreachable").Len() != 1 {
		t.Fatalf("want one warning when Vault became unreachable, got %d", logs.FilterMessageSnippet("vault unreachable").Len())
	}
}

func TestCacheNoStaleOnPermissionError(t *testing.T) {
	f := &permissionBackend{fakeBackend: newFakeBackend()}
	f.put(cacheTenantA, "api", "tok-revoked")
	c, clk := testCache(t, f, CacheConfig{TTL: time.Minute})
	mustResolve(t, c, cacheTenantA, "api", "tok-revoked")
	f.deny.Store(true)
	clk.advance(time.Minute)
	_, err := c.Resolve(context.Background(), cacheTenantA, "api")
	if !errors.Is(err, secret.ErrPermission) {
		t.Fatalf("err = %v, want ErrPermission (a refused token must not be papered over with stale values)", err)
	}
}

type permissionBackend struct {
	*fakeBackend
	deny atomic.Bool
}

func (p *permissionBackend) Read(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error) {
	if p.deny.Load() {
		return secret.Secret{}, fmt.Errorf("fake: %w", secret.ErrPermission)
	}
	return p.fakeBackend.Read(ctx, t, alias)
}

// ---- Against the real dev Vault (bin/vaultdev through internal/vaulttest).

// vaultTap is a reverse proxy in front of a dev Vault that counts the
// requests reaching Vault: reads of secret values and of the change feed.
// It can hold secret reads (to line up concurrent misses) and refuse every
// request (a network outage between the sidecar and Vault).
type vaultTap struct {
	URL         string
	secretReads atomic.Int64
	feedReads   atomic.Int64
	refuse      atomic.Bool
	hold        atomic.Pointer[chan struct{}]
}

func newVaultTap(t *testing.T, target string) *vaultTap {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	tap := &vaultTap{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tap.refuse.Load() {
			panic(http.ErrAbortHandler) // drop the connection
		}
		if r.Method == http.MethodGet {
			switch {
			case strings.HasPrefix(r.URL.Path, "/v1/secret/data/sidekey/orgs/"):
				tap.secretReads.Add(1)
				if h := tap.hold.Load(); h != nil {
					<-*h
				}
			case r.URL.Path == "/v1/secret/data/sidekey/"+feedPath:
				tap.feedReads.Add(1)
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tap.URL = srv.URL
	return tap
}

// tappedStores returns an admin store on srv, a sidecar store that reaches
// srv through a vaultTap, and a tenant of the test's own.
func tappedStores(t *testing.T, srv *vaulttest.Server) (admin, sidecar *testStore, tap *vaultTap, tn secret.Tenant) {
	t.Helper()
	tap = newVaultTap(t, srv.Addr)
	return stAdmin(t, srv), stOpen(t, tap.URL, stToken(srv.SidecarToken(t)), 0), tap, stTenant(t)
}

func TestCacheVaultCoalescedMissesAndHits(t *testing.T) {
	admin, sidecar, tap, tn := tappedStores(t, vaulttest.Shared(t))
	createToken(t, admin, tn, "weather_fx", "tok-vault-coalesced-7f3a")

	c, err := NewCache(sidecar.reader(), CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	tap.hold.Store(&hold)

	const n = 100
	resolveTogether(t, c, tn, "weather_fx", "tok-vault-coalesced-7f3a", n, func() {
		tap.hold.Store(nil)
		close(hold)
	})
	if got := tap.secretReads.Load(); got != 1 {
		t.Fatalf("%d concurrent misses made %d Vault reads, want 1", n, got)
	}

	// Hits do no Vault I/O: counted, and with Vault cut off.
	for range 1000 {
		mustResolve(t, c, tn, "weather_fx", "tok-vault-coalesced-7f3a")
	}
	tap.refuse.Store(true)
	mustResolve(t, c, tn, "weather_fx", "tok-vault-coalesced-7f3a")
	if got := tap.secretReads.Load(); got != 1 {
		t.Fatalf("hits made %d more Vault reads, want 0", got-1)
	}
	if st := c.Stats(); st.Hits != 1001 {
		t.Fatalf("hits = %d, want 1001", st.Hits)
	}
}

func TestCacheVaultOutage(t *testing.T) {
	srv := vaulttest.Start(t)
	admin := stAdmin(t, srv)
	// A short store timeout: a read of a stopped Vault gives up after 1 s
	// of retries.
	sidecar := stOpen(t, srv.Addr, stToken(srv.SidecarToken(t)), time.Second)
	tn := stTenant(t)
	const value = "tok-vault-outage-c0ffee"
	createToken(t, admin, tn, "api", value)

	c, err := NewCache(sidecar.reader(), CacheConfig{TTL: time.Minute, MaxStale: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{}
	c.clock = clk.read
	mustResolve(t, c, tn, "api", value)

	srv.Stop(t)
	// Fresh: served from memory, Vault is not asked.
	mustResolve(t, c, tn, "api", value)
	// Past the TTL: the refresh fails, the value is served stale.
	clk.advance(2 * time.Minute)
	mustResolve(t, c, tn, "api", value)
	clk.advance(2 * time.Minute)
	mustResolve(t, c, tn, "api", value)
	if st := c.Stats(); st.StaleServed != 2 {
		t.Fatalf("stale served %d times, want 2", st.StaleServed)
	}
	// Past max-stale: store_unavailable.
	clk.advance(2 * time.Minute)
	_, err = c.Resolve(context.Background(), tn, "api")
	if !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("past max-stale with Vault stopped: err = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), value) {
		t.Fatal("the error holds the secret value")
	}

	// Vault back: the same cache recovers.
	srv.Restart(t)
	mustResolve(t, c, tn, "api", value)
	if _, err := c.Resolve(context.Background(), tn, "missing"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("after recovery, unknown alias: err = %v, want ErrNotFound", err)
	}
}

// TestCacheMetrics checks that the cache registers its own metrics: one
// sidekey_vault_read_seconds observation per Vault read, by outcome, none
// for answers from memory, and the sidekey_cache_* counters.
func TestCacheMetrics(t *testing.T) {
	f := newFakeBackend()
	f.put(cacheTenantA, "api", "observed-token-1")
	reg := prometheus.NewRegistry()
	c, _ := testCache(t, f, CacheConfig{Registerer: reg})
	reads := func(outcome string) uint64 {
		t.Helper()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range fams {
			if fam.GetName() != "sidekey_vault_read_seconds" {
				continue
			}
			for _, m := range fam.GetMetric() {
				if m.GetLabel()[0].GetValue() == outcome {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
		t.Fatalf("no sidekey_vault_read_seconds{outcome=%q}", outcome)
		return 0
	}

	mustResolve(t, c, cacheTenantA, "api", "observed-token-1") // cold: one read
	mustResolve(t, c, cacheTenantA, "api", "observed-token-1") // hit: none
	if got := reads("ok"); got != 1 {
		t.Fatalf("%d ok reads observed after a cold read and a hit, want 1", got)
	}
	if _, err := c.Resolve(context.Background(), cacheTenantA, "missing"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("Resolve(missing) = %v", err)
	}
	if got := reads("not_found"); got != 1 {
		t.Fatalf("%d not_found reads observed, want 1", got)
	}
	f.setDown(true)
	if _, err := c.Resolve(context.Background(), cacheTenantA, "other"); !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("Resolve while down = %v", err)
	}
	if got := reads("error"); got != 1 {
		t.Fatalf("%d error reads observed, want 1", got)
	}
	if hits := counterValue(t, reg, "sidekey_cache_hits_total"); hits != 1 {
		t.Fatalf("sidekey_cache_hits_total = %v, want 1", hits)
	}
	if _, err := newCache(f, CacheConfig{Registerer: reg}, nil, time.Second); err == nil {
		t.Fatal("a second cache registered the same metrics without an error")
	}
}

// counterValue gathers reg and returns the value of the counter name.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() == name && len(fam.GetMetric()) == 1 {
			return fam.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
