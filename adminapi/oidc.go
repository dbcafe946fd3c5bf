package adminapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Defaults of OIDCConfig.
const (
	// DefaultKeyRefresh is how long a fetched key set is used before it is
	// fetched again, so that keys the provider stops publishing stop
	// verifying.
	DefaultKeyRefresh = 5 * time.Minute
	// DefaultKeyRefetchInterval is the shortest average interval between
	// key set fetches caused by tokens with an unknown kid.
	DefaultKeyRefetchInterval = 10 * time.Second
	// DefaultDiscoveryRetry is the shortest interval between two discovery
	// attempts while the provider cannot be reached.
	DefaultDiscoveryRetry = 5 * time.Second
	// keyRefetchBurst is how many key set fetches may happen back to back.
	keyRefetchBurst = 3
	// providerTimeout bounds one call to the provider.
	providerTimeout = 10 * time.Second
	// maxJWKSBytes bounds the key set document.
	maxJWKSBytes = 1 << 20
)

// acceptedAlgs are the signature algorithms accepted from a provider: the
// asymmetric ones, each of which verifies only with a key of its type. HMAC
// and "none" are never accepted.
var acceptedAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512, oidc.EdDSA,
}

// errAuthUnavailable marks failures to reach the identity provider.
var errAuthUnavailable = errors.New("identity provider unavailable")

// OIDCConfig configures the verification of tokens issued by an OpenID
// Connect provider, whose keys are fetched from its JWKS endpoint.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL: tokens' "iss" must equal it, and,
	// unless JWKSURL is set, its /.well-known/openid-configuration gives the
	// endpoints. https://, or http:// on a loopback host.
	Issuer string
	// JWKSURL, when set, is the key set URL and discovery is not used.
	JWKSURL string
	// Audience must be one of the tokens' "aud"; empty means ClientID.
	Audience string
	// ClientID is the public client of the web UI's sign-in (authorization
	// code with PKCE). Empty: the UI cannot sign in.
	ClientID string
	// Scopes are requested by the UI's sign-in; default openid, profile,
	// email.
	Scopes []string
	// RootCAs verifies the provider's TLS certificate; nil: the system's.
	RootCAs *x509.CertPool
	// KeyRefresh, KeyRefetchInterval and DiscoveryRetry default to the
	// Default… constants.
	KeyRefresh         time.Duration
	KeyRefetchInterval time.Duration
	DiscoveryRetry     time.Duration
}

// DefaultScopes are the scopes the UI requests when OIDCConfig.Scopes is
// empty.
var DefaultScopes = []string{"openid", "profile", "email"}

// validate checks the configuration.
func (c *OIDCConfig) validate() error {
	if c.Issuer == "" {
		return errors.New("adminapi: OIDC needs an issuer URL")
	}
	if err := checkProviderURL("issuer", c.Issuer); err != nil {
		return err
	}
	if c.JWKSURL != "" {
		if err := checkProviderURL("JWKS URL", c.JWKSURL); err != nil {
			return err
		}
	}
	if c.Audience == "" && c.ClientID == "" {
		return errors.New("adminapi: OIDC needs an audience or a client id")
	}
	if c.KeyRefresh < 0 || c.KeyRefetchInterval < 0 || c.DiscoveryRetry < 0 {
		return errors.New("adminapi: negative OIDC interval")
	}
	if !slices.Contains(c.scopes(), "openid") {
		return errors.New("adminapi: OIDC scopes must include openid")
	}
	return nil
}

func (c *OIDCConfig) scopes() []string {
	if len(c.Scopes) == 0 {
		return DefaultScopes
	}
	return c.Scopes
}

// checkProviderURL accepts https URLs, and http URLs whose host is a
// loopback address or localhost.
func checkProviderURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("adminapi: OIDC %s %q is not an absolute URL without query", what, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("adminapi: OIDC %s %q: http is only allowed on loopback; use https", what, raw)
	default:
		return fmt.Errorf("adminapi: OIDC %s %q: want https", what, raw)
	}
}

// AuthEndpoints are what the web UI needs to sign in with the provider.
type AuthEndpoints struct {
	Authorization string
	Token         string
	EndSession    string
}

// oidcState is the verifier and endpoints of a discovered provider.
type oidcState struct {
	verifier  *oidc.IDTokenVerifier
	endpoints AuthEndpoints
}

// oidcVerifier verifies tokens of an OpenID Connect provider. Discovery
// runs on first use and is retried, at most once per DiscoveryRetry, until
// it succeeds; meanwhile requests fail with errAuthUnavailable.
type oidcVerifier struct {
	cfg    OIDCConfig
	leeway time.Duration
	client *http.Client
	jwks   *jwksTransport
	log    *zap.Logger

	state atomic.Pointer[oidcState]
	// discovering holds one token: its holder runs discovery and owns
	// lastTry and lastErr. Others wait for it (bounded by their context).
	discovering chan struct{}
	lastTry     time.Time
	lastErr     error
}

func newOIDCVerifier(cfg OIDCConfig, leeway time.Duration) (*oidcVerifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.ClientID
	}
	if cfg.KeyRefresh == 0 {
		cfg.KeyRefresh = DefaultKeyRefresh
	}
	if cfg.KeyRefetchInterval == 0 {
		cfg.KeyRefetchInterval = DefaultKeyRefetchInterval
	}
	if cfg.DiscoveryRetry == 0 {
		cfg.DiscoveryRetry = DefaultDiscoveryRetry
	}
	// The default transport's proxy settings (HTTPS_PROXY, NO_PROXY) apply:
	// the provider may be outside the cluster.
	base := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.RootCAs != nil {
		base.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	jt := &jwksTransport{
		base:    base,
		limiter: rate.NewLimiter(rate.Every(cfg.KeyRefetchInterval), keyRefetchBurst),
	}
	o := &oidcVerifier{
		cfg:         cfg,
		leeway:      leeway,
		client:      &http.Client{Transport: jt, Timeout: providerTimeout},
		jwks:        jt,
		log:         zap.NewNop(),
		discovering: make(chan struct{}, 1),
	}
	o.discovering <- struct{}{}
	return o, nil
}

// ready returns the discovered provider, discovering it when due.
func (o *oidcVerifier) ready(ctx context.Context) (*oidcState, error) {
	if s := o.state.Load(); s != nil {
		return s, nil
	}
	select {
	case <-o.discovering:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for discovery: %w", errAuthUnavailable, ctx.Err())
	}
	defer func() { o.discovering <- struct{}{} }()
	if s := o.state.Load(); s != nil {
		return s, nil
	}
	if o.lastErr != nil && time.Since(o.lastTry) < o.cfg.DiscoveryRetry {
		return nil, o.lastErr
	}
	o.lastTry = time.Now()
	s, err := o.discover(ctx)
	if err != nil {
		o.lastErr = fmt.Errorf("%w: %w", errAuthUnavailable, err)
		o.log.Warn("identity provider unavailable; retrying on a later request",
			zap.String("issuer", o.cfg.Issuer), zap.Duration("retry_after", o.cfg.DiscoveryRetry), zap.Error(err))
		return nil, o.lastErr
	}
	o.lastErr = nil
	o.state.Store(s)
	o.log.Info("identity provider discovered", zap.String("issuer", o.cfg.Issuer),
		zap.String("jwks_uri", o.jwks.jwksURL()), zap.Bool("sign_in", s.endpoints.Authorization != "" && o.cfg.ClientID != ""))
	return s, nil
}

// discover reads the provider's metadata (or uses JWKSURL) and builds the
// verifier.
func (o *oidcVerifier) discover(ctx context.Context) (*oidcState, error) {
	// A caller that goes away does not cut discovery short: others wait
	// for its result.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), providerTimeout)
	defer cancel()
	ctx = oidc.ClientContext(ctx, o.client)
	st := &oidcState{}
	jwksURL := o.cfg.JWKSURL
	if jwksURL == "" {
		p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		var meta struct {
			JWKS       string `json:"jwks_uri"`
			EndSession string `json:"end_session_endpoint"`
		}
		if err := p.Claims(&meta); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		if err := checkProviderURL("jwks_uri", meta.JWKS); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		jwksURL = meta.JWKS
		ep := p.Endpoint()
		st.endpoints = AuthEndpoints{Authorization: ep.AuthURL, Token: ep.TokenURL, EndSession: meta.EndSession}
	}
	o.jwks.setURL(jwksURL)
	keys := &refreshingKeySet{
		ctx:     oidc.ClientContext(context.Background(), o.client),
		url:     jwksURL,
		refresh: o.cfg.KeyRefresh,
	}
	// Every asymmetric algorithm is accepted, not only those the discovery
	// document lists, so that a provider may rotate to a key of another
	// type; each verifies only with a key of its type (go-jose).
	vc := &oidc.Config{ClientID: o.cfg.Audience, SupportedSigningAlgs: acceptedAlgs}
	if o.leeway > 0 {
		leeway := o.leeway
		vc.Now = func() time.Time { return time.Now().Add(-leeway) }
	}
	st.verifier = oidc.NewVerifier(o.cfg.Issuer, keys, vc)
	return st, nil
}

// verify checks raw and returns its claims.
func (o *oidcVerifier) verify(ctx context.Context, raw string) (map[string]any, error) {
	st, err := o.ready(ctx)
	if err != nil {
		return nil, err
	}
	// go-oidc formats key set errors with %v; the key set reports an
	// unreachable provider through this flag instead.
	flag := &unavailableFlag{}
	tok, err := st.verifier.Verify(context.WithValue(ctx, unavailableKey{}, flag), raw)
	if err != nil {
		if flag.err != nil {
			return nil, flag.err
		}
		return nil, err
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, fmt.Errorf("oidc: claims: %w", err)
	}
	return claims, nil
}

// origins returns the origins the browser calls during sign-in (the token
// endpoint's), or nil before discovery.
func (o *oidcVerifier) origins() []string {
	st := o.state.Load()
	if st == nil || st.endpoints.Token == "" {
		return nil
	}
	u, err := url.Parse(st.endpoints.Token)
	if err != nil {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

// oidcErrorMessage names why go-oidc refused a token, in words safe to
// send. go-oidc's errors other than expiry are untyped; their texts are
// matched here and each is covered by a test.
func oidcErrorMessage(err error) string {
	var exp *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return "token expired"
	case strings.Contains(msg, "issued by a different provider"):
		return "token issuer not accepted"
	case strings.Contains(msg, "expected audience"):
		return "token audience not accepted"
	case strings.Contains(msg, "before the nbf"):
		return "token not valid yet"
	case strings.Contains(msg, "malformed jwt"):
		return "token malformed, or signed with an algorithm that is not accepted"
	case strings.Contains(msg, "failed to verify"):
		return "token signature invalid, or signed by a key the provider does not publish"
	default:
		return "token invalid"
	}
}

// refreshingKeySet is go-oidc's RemoteKeySet, replaced by a fresh one every
// refresh interval so that keys the provider no longer publishes stop
// verifying even when no token with a new kid forces a refetch.
type refreshingKeySet struct {
	ctx     context.Context
	url     string
	refresh time.Duration

	mu   sync.Mutex
	set  *oidc.RemoteKeySet
	made time.Time
}

// VerifySignature implements oidc.KeySet.
func (k *refreshingKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	k.mu.Lock()
	if k.set == nil || time.Since(k.made) >= k.refresh {
		k.set = oidc.NewRemoteKeySet(k.ctx, k.url)
		k.made = time.Now()
	}
	set := k.set
	k.mu.Unlock()
	payload, err := set.VerifySignature(ctx, jwt)
	if err != nil && errors.Is(err, errAuthUnavailable) {
		if f, ok := ctx.Value(unavailableKey{}).(*unavailableFlag); ok {
			f.err = err
		}
	}
	return payload, err
}

// unavailableKey is the context key of the *unavailableFlag of one
// verification.
type unavailableKey struct{}

// unavailableFlag receives the error of a key set fetch that failed because
// the provider cannot be reached.
type unavailableFlag struct{ err error }

// jwksTransport is the provider client's transport. Fetches of the key set
// are rate limited: go-oidc refetches the set for every token whose kid it
// does not know (and for every bad signature), so over the limit the last
// fetched set is answered again without a network call. Failures to fetch
// it are errAuthUnavailable.
type jwksTransport struct {
	base    http.RoundTripper
	limiter *rate.Limiter

	mu      sync.Mutex
	url     string
	last    []byte
	fetches func(outcome string)
}

func (t *jwksTransport) jwksURL() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.url
}

func (t *jwksTransport) setURL(u string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.url = u
}

func (t *jwksTransport) count(outcome string) {
	if t.fetches != nil {
		t.fetches(outcome)
	}
}

// RoundTrip implements http.RoundTripper.
func (t *jwksTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	isJWKS := t.url != "" && req.URL.String() == t.url
	last := t.last
	t.mu.Unlock()
	if !isJWKS {
		return t.base.RoundTrip(req)
	}
	if !t.limiter.Allow() {
		if last == nil {
			t.count("limited")
			return nil, fmt.Errorf("%w: key set fetches over their rate limit", errAuthUnavailable)
		}
		t.count("limited")
		return jsonResponse(req, last), nil
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.count("error")
		return nil, fmt.Errorf("%w: fetch key set: %w", errAuthUnavailable, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.count("error")
		return nil, fmt.Errorf("%w: fetch key set: %s", errAuthUnavailable, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		t.count("error")
		return nil, fmt.Errorf("%w: read key set: %w", errAuthUnavailable, err)
	}
	if len(body) > maxJWKSBytes {
		t.count("error")
		return nil, fmt.Errorf("%w: key set larger than %d bytes", errAuthUnavailable, maxJWKSBytes)
	}
	if !json.Valid(body) {
		t.count("error")
		return nil, fmt.Errorf("%w: key set is not JSON", errAuthUnavailable)
	}
	t.mu.Lock()
	t.last = body
	t.mu.Unlock()
	t.count("fetched")
	return jsonResponse(req, body), nil
}

func jsonResponse(req *http.Request, body []byte) *http.Response {
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
