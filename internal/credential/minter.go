package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/sidekey/sidekey/internal/secret"
)

// Defaults of Config.
const (
	DefaultMaxEntries      = 10000
	DefaultExchangeTimeout = 10 * time.Second
	DefaultRetries         = 2
	DefaultRetryInitial    = 200 * time.Millisecond
	// RefreshFraction of a token's lifetime passes before it is refreshed
	// in the background.
	RefreshFraction = 0.8
	// maxExpiryMargin caps how long before its expiry a token stops being
	// injected, so that it does not expire in flight.
	maxExpiryMargin = 10 * time.Second
)

// Config configures a Minter.
type Config struct {
	// HTTPClient sends token exchanges: the proxy's upstream client, with
	// its TLS verification and destination guard. Required.
	HTTPClient *http.Client
	// MaxEntries bounds the token cache. Zero means DefaultMaxEntries.
	MaxEntries int
	// ExchangeTimeout bounds one exchange with its retries. Zero means
	// DefaultExchangeTimeout.
	ExchangeTimeout time.Duration
	// Retries is how many times a failed exchange is retried (with
	// exponential backoff) before it counts as failed; refusals (4xx) are
	// not retried. Zero means DefaultRetries; negative means none.
	Retries int
	// RetryInitial is the first backoff interval. Zero means
	// DefaultRetryInitial.
	RetryInitial time.Duration
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger logs exchange failures (kind, alias, status; never a value).
	// Nil means zap.NewNop().
	Logger *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TokenRequest names one derived token: a token filter applied to a JSON
// secret of a credential kind.
type TokenRequest struct {
	Tenant  secret.Tenant
	Alias   string
	Version int
	// Kind is the secret's credential kind ("" for a secret without one).
	Kind Kind
	// Object is the secret's JSON object.
	Object json.RawMessage
	// AllowedHosts are the secret's allowed_hosts; when set, the token
	// endpoint's host must match one.
	AllowedHosts []string
	// Filter is the token filter (FilterGoogleAccessToken, …) and Args its
	// arguments.
	Filter string
	Args   []string
}

// Minter mints derived tokens and caches them per (tenant, alias, secret
// version, filter and arguments). It refreshes a token in the background
// once RefreshFraction of its lifetime has passed, coalesces concurrent
// misses into one exchange, and never returns a token past its expiry:
// while the endpoint fails, a cached token is served only until then.
type Minter struct {
	cfg     Config
	log     *zap.Logger
	now     func() time.Time
	cache   *lru.Cache[cacheKey, *entry]
	group   singleflight.Group
	metrics *metrics
}

// entry is one cached token.
type entry struct {
	kind       Kind
	value      secret.Value
	refreshAt  time.Time
	usableTill time.Time
	// refreshing is set while one background refresh runs; nextTry holds
	// off the next after a failed one.
	refreshing atomic.Bool
	nextTry    atomic.Int64
}

// New returns a Minter.
func New(cfg Config) (*Minter, error) {
	if cfg.HTTPClient == nil {
		return nil, errors.New("credential: Config.HTTPClient is required")
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.ExchangeTimeout <= 0 {
		cfg.ExchangeTimeout = DefaultExchangeTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = DefaultRetryInitial
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cache, err := lru.New[cacheKey, *entry](cfg.MaxEntries)
	if err != nil {
		return nil, fmt.Errorf("credential: token cache: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Minter{cfg: cfg, log: cfg.Logger, now: cfg.Now, cache: cache, metrics: m}, nil
}

// cacheKey is the token cache key of a request. The version makes a
// rotated secret's tokens unreachable even before Evict runs.
type cacheKey struct {
	tenant  secret.Tenant
	alias   string
	version int
	filter  string
	args    string // the arguments joined by NUL
}

func keyOf(r *TokenRequest) cacheKey {
	k := cacheKey{tenant: r.Tenant, alias: r.Alias, version: r.Version, filter: r.Filter}
	switch len(r.Args) {
	case 0:
	case 1:
		k.args = r.Args[0]
	default:
		k.args = strings.Join(r.Args, "\x00")
	}
	return k
}

// flightKey names a cache key for singleflight.
func (k cacheKey) flightKey() string {
	return k.tenant.Org + "/" + k.tenant.Domain + "/" + k.alias + "\x00" + strconv.Itoa(k.version) + "\x00" + k.filter + "\x00" + k.args
}

// Token returns the derived token r names, from the cache when it holds an
// unexpired one. Errors wrap ErrInvalidCredential, ErrArguments,
// ErrEndpointNotAllowed or ErrExchange (an *ExchangeError).
func (m *Minter) Token(ctx context.Context, r TokenRequest) (secret.Value, error) {
	key := keyOf(&r)
	now := m.now()
	// Peek takes a read lock only: hits do not contend. Refreshed tokens
	// are re-added, which keeps tokens in use at the front.
	if e, ok := m.cache.Peek(key); ok && now.Before(e.usableTill) {
		if !now.Before(e.refreshAt) && now.UnixNano() >= e.nextTry.Load() && e.refreshing.CompareAndSwap(false, true) {
			m.startRefresh(key, r, e)
		}
		m.metrics.hit(e.kind)
		return e.value, nil
	}
	return m.miss(ctx, key, r)
}

// miss waits for the one exchange that fills key. It is apart from Token
// so that the hit path keeps r on the stack.
func (m *Minter) miss(ctx context.Context, key cacheKey, r TokenRequest) (secret.Value, error) {
	m.metrics.misses.WithLabelValues(string(r.Kind)).Inc()
	ch := m.group.DoChan(key.flightKey(), func() (any, error) {
		// A flight that started after another filled the cache finds it.
		if e, ok := m.cache.Peek(key); ok && m.now().Before(e.usableTill) {
			return e, nil
		}
		xctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.ExchangeTimeout)
		defer cancel()
		return m.mint(xctx, key, &r)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return secret.Value{}, res.Err
		}
		return res.Val.(*entry).value, nil
	case <-ctx.Done():
		return secret.Value{}, &ExchangeError{Kind: r.Kind, Reason: "timeout"}
	}
}

// startRefresh runs refresh on its own goroutine; r is copied here so that
// the hit path does not move it to the heap.
func (m *Minter) startRefresh(key cacheKey, r TokenRequest, e *entry) {
	go m.refresh(key, r, e)
}

// refresh replaces e in the background before it expires. A failure
// leaves e in place until its own expiry and holds off the next try.
func (m *Minter) refresh(key cacheKey, r TokenRequest, e *entry) {
	defer e.refreshing.Store(false)
	ch := m.group.DoChan(key.flightKey(), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ExchangeTimeout)
		defer cancel()
		return m.mint(ctx, key, &r)
	})
	if res := <-ch; res.Err != nil {
		e.nextTry.Store(m.now().Add(time.Second).UnixNano())
	}
}

// mint derives a token with retries and caches it.
func (m *Minter) mint(ctx context.Context, key cacheKey, r *TokenRequest) (*entry, error) {
	src, err := newSource(r.Filter, r.Kind, r.Object, r.Args, m.now)
	if err != nil {
		return nil, err
	}
	if err := checkEndpoint(src.endpoint, r.AllowedHosts); err != nil {
		m.metrics.exchanges.WithLabelValues(string(src.kind), outcome(err)).Inc()
		m.log.Warn("token endpoint not allowed", zap.String("kind", string(src.kind)),
			zap.String("alias", r.Alias), zap.Stringer("tenant", r.Tenant))
		return nil, fmt.Errorf("%w: the token endpoint of %s is not in its allowed_hosts", err, r.Alias)
	}
	var result tokenResult
	attempt := func() error {
		res, err := m.once(ctx, src)
		if err != nil {
			var xe *ExchangeError
			if errors.As(err, &xe) && xe.permanent() {
				return backoff.Permanent(err)
			}
			if !errors.As(err, &xe) {
				return backoff.Permanent(err)
			}
			return err
		}
		result = res
		return nil
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = m.cfg.RetryInitial
	bo.MaxInterval = 2 * time.Second
	bo.MaxElapsedTime = m.cfg.ExchangeTimeout
	retries := uint64(max(m.cfg.Retries, 0)) //nolint:gosec // G115: not negative (New)
	err = backoff.Retry(attempt, backoff.WithContext(backoff.WithMaxRetries(bo, retries), ctx))
	if err != nil {
		var xe *ExchangeError
		if errors.As(err, &xe) {
			m.log.Warn("credential exchange failed", zap.String("kind", string(xe.Kind)),
				zap.String("alias", r.Alias), zap.Stringer("tenant", r.Tenant),
				zap.Int("status", xe.Status), zap.String("reason", xe.Reason))
		}
		return nil, err
	}
	now := m.now()
	lifetime := result.lifetime
	if lifetime <= 0 {
		lifetime = DefaultTokenLifetime
	}
	margin := min(lifetime/10, maxExpiryMargin)
	e := &entry{
		kind:       src.kind,
		value:      secret.Value{Token: result.value},
		usableTill: now.Add(lifetime - margin),
		refreshAt:  now.Add(time.Duration(float64(lifetime) * RefreshFraction)),
	}
	if result.local {
		e.refreshAt = e.usableTill
	}
	m.cache.Add(key, e)
	return e, nil
}

// once runs one exchange attempt and records its metrics.
func (m *Minter) once(ctx context.Context, src *source) (tokenResult, error) {
	start := time.Now()
	hc, rec := recordingClient(m.cfg.HTTPClient)
	res, err := src.exchange(ctx, hc)
	if src.endpoint != "" {
		m.metrics.latency.WithLabelValues(string(src.kind)).Observe(time.Since(start).Seconds())
	}
	if err != nil {
		if errors.Is(err, ErrSigning) || errors.Is(err, ErrInvalidCredential) {
			m.metrics.exchanges.WithLabelValues(string(src.kind), "invalid").Inc()
			return tokenResult{}, err
		}
		xe := classify(ctx, src.kind, rec, err)
		m.metrics.exchanges.WithLabelValues(string(src.kind), outcome(xe)).Inc()
		return tokenResult{}, xe
	}
	m.metrics.exchanges.WithLabelValues(string(src.kind), "ok").Inc()
	return res, nil
}

// checkEndpoint refuses a token endpoint whose host allowed_hosts does not
// match.
func checkEndpoint(endpoint string, allowed []string) error {
	if endpoint == "" || len(allowed) == 0 {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return ErrEndpointNotAllowed
	}
	if !secret.HostAllowed(allowed, strings.ToLower(u.Hostname())) {
		return ErrEndpointNotAllowed
	}
	return nil
}

// Evict drops every cached token of a tenant's alias: the change feed calls
// it when the secret is rotated or archived.
func (m *Minter) Evict(tenant secret.Tenant, alias string) {
	alias = strings.ToLower(alias)
	for _, k := range m.cache.Keys() {
		if k.tenant == tenant && k.alias == alias {
			m.cache.Remove(k)
		}
	}
}

// Len returns the number of cached tokens.
func (m *Minter) Len() int { return m.cache.Len() }
