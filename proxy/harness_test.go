package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sidekey/sidekey/internal/ca"
	"github.com/sidekey/sidekey/internal/ops"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/tenantauth"
	"github.com/sidekey/sidekey/internal/testbin"
)

// testTenant is the tenant most tests act as.
var testTenant = secret.Tenant{Org: "acme", Domain: "billing"}

// upstreamHost is the name tests use for TLS upstreams; the proxy's test
// resolver points it at the upstream's loopback address.
const upstreamHost = "api.upstream.test"

// fakeResolver is an in-memory Resolver for unit tests.
type fakeResolver struct {
	mu      sync.Mutex
	secrets map[string]secret.Secret // "org/domain/alias"
	err     error
	calls   int
}

func newFakeResolver() *fakeResolver { return &fakeResolver{secrets: map[string]secret.Secret{}} }

func (f *fakeResolver) put(t secret.Tenant, alias string, s secret.Secret) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[t.String()+"/"+alias] = s
}

func (f *fakeResolver) Resolve(_ context.Context, t secret.Tenant, alias string) (secret.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return secret.Secret{}, f.err
	}
	s, ok := f.secrets[t.String()+"/"+alias]
	if !ok {
		return secret.Secret{}, fmt.Errorf("fake: %s/%s: %w", t, alias, secret.ErrNotFound)
	}
	return s, nil
}

// recorded is one request as the upstream received it.
type recorded struct {
	Method string
	URI    string
	Host   string
	Header http.Header
	Body   []byte
	// ContentLength is -1 when the body came chunked.
	ContentLength int64
}

// recorder keeps the requests a test server received and the answer the
// test set for the next ones.
type recorder struct {
	mu  sync.Mutex
	got []recorded
	// answer, when set, writes the response instead of the server's own.
	answer func(w http.ResponseWriter, r *http.Request, body []byte)
}

// record reads r's body, keeps the request and returns the body with the
// answer set at this moment (nil for the server's own).
func (rc *recorder) record(r *http.Request) ([]byte, func(w http.ResponseWriter, r *http.Request, body []byte)) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, recorded{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: body, ContentLength: r.ContentLength})
	return body, rc.answer
}

func (rc *recorder) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.got...)
}

func (rc *recorder) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// upstream is a real TLS (or plain) HTTP server on loopback that records
// what it receives and answers with a configurable handler.
type upstream struct {
	srv *httptest.Server
	recorder
}

func newUpstream(t *testing.T, useTLS bool) *upstream {
	t.Helper()
	return newUpstreamFor(t, useTLS, upstreamHost)
}

// newUpstreamFor starts an upstream whose certificate names host.
func newUpstreamFor(t *testing.T, useTLS bool, host string) *upstream {
	t.Helper()
	u := &upstream{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, answer := u.record(r)
		if answer != nil {
			answer(w, r, body)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("upstream ok"))
	})
	if useTLS {
		u.srv = httptest.NewUnstartedServer(h)
		u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{upstreamCert(t, host)}}
		u.srv.StartTLS()
	} else {
		u.srv = httptest.NewServer(h)
	}
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) port() string {
	_, p, _ := net.SplitHostPort(u.srv.Listener.Addr().String())
	return p
}

// url returns the upstream's URL under upstreamHost.
func (u *upstream) url(path string) string {
	scheme := "http"
	if u.srv.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + upstreamHost + ":" + u.port() + path
}

var (
	upstreamCAOnce sync.Once
	upstreamCA     *ca.CA
	upstreamCAErr  error
)

// upstreamCert returns a certificate for upstreamHost and 127.0.0.1 from
// a test CA that the proxy trusts through Config.UpstreamRoots.
func upstreamCert(t *testing.T, host string) tls.Certificate {
	t.Helper()
	upstreamCAOnce.Do(func() { upstreamCA, upstreamCAErr = ca.New("upstream test CA", time.Hour) })
	if upstreamCAErr != nil {
		t.Fatal(upstreamCAErr)
	}
	leaf, err := upstreamCA.Issue(host, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return *leaf
}

func upstreamRoots(t *testing.T) *x509.CertPool {
	upstreamCert(t, upstreamHost)
	pool := x509.NewCertPool()
	pool.AddCert(upstreamCA.Cert)
	return pool
}

// testProxy is a running proxy with what a client needs to use it.
type testProxy struct {
	p        *Proxy
	addr     string
	keys     *tenantauth.Keys
	ca       *ca.CA
	caPEM    []byte
	resolver *fakeResolver
	// ops serves /metrics, /healthz and /readyz as cmd/sidekey does.
	ops http.Handler
	// stop starts the drain; served waits for Serve and returns its error.
	stop   context.CancelFunc
	served func() error
}

func (tp *testProxy) userPass(t secret.Tenant) string { return tp.keys.UserPass(t) }

// proxyURL returns http://user:pass@addr for the tenant.
func (tp *testProxy) proxyURL(t secret.Tenant) *url.URL {
	up := tp.keys.UserPass(t)
	user, pass, _ := strings.Cut(up, ":")
	return &url.URL{Scheme: "http", Host: tp.addr, User: url.UserPassword(user, pass)}
}

func (tp *testProxy) authHeader(t secret.Tenant) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(tp.keys.UserPass(t)))
}

// client returns a Go HTTP client that uses the proxy as the tenant and
// trusts the Sidekey CA.
func (tp *testProxy) client(t secret.Tenant) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(tp.ca.Cert)
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             http.ProxyURL(tp.proxyURL(t)),
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		},
		Timeout: 20 * time.Second,
	}
}

// loopbackLookup resolves upstreamHost (and *.upstream.test) to 127.0.0.1.
func loopbackLookup(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == upstreamHost || strings.HasSuffix(host, ".upstream.test") {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

var testKeys = func() *tenantauth.Keys {
	k, err := tenantauth.NewKeys([]byte("test-tenant-key-0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}()

// startProxy runs a proxy on loopback with a fake resolver (unless cfg sets
// one), allowing loopback upstreams unless mutate says otherwise.
func startProxy(t *testing.T, mutate func(*Config)) *testProxy {
	t.Helper()
	return startProxyWithLogger(t, zap.NewNop(), mutate)
}

var loopbackCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func testCA(t testing.TB) *ca.CA {
	t.Helper()
	authority, err := ca.New("Sidekey test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return authority
}

func startProxyWithLogger(t *testing.T, log *zap.Logger, mutate func(*Config)) *testProxy {
	t.Helper()
	authority := testCA(t)
	res := newFakeResolver()
	cfg := Config{
		Resolver:           res,
		Keys:               testKeys,
		CA:                 authority,
		UpstreamRoots:      upstreamRoots(t),
		AllowUpstreamCIDRs: loopbackCIDRs,
		ScrubResponses:     true,
		LookupNetIP:        loopbackLookup,
		DrainTimeout:       2 * time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = ops.NewRegistry()
	}
	tp := serveProxy(t, cfg, log)
	tp.caPEM = authority.CertPEM()
	tp.resolver = res
	tp.ops = ops.Handler(ops.Config{Gatherer: cfg.Registerer.(prometheus.Gatherer), Ready: tp.p.CheckReady})
	return tp
}

// serveProxy builds a Proxy from cfg and serves it on a loopback listener
// until the test ends (or tp.stop), then checks that Serve returned nil.
func serveProxy(tb testing.TB, cfg Config, log *zap.Logger) *testProxy {
	tb.Helper()
	p, err := New(cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	ln := testbin.Listen(tb)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	served := sync.OnceValue(func() error { return <-done })
	tb.Cleanup(func() {
		cancel()
		if err := served(); err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return &testProxy{p: p, addr: ln.Addr().String(), keys: cfg.Keys, ca: cfg.CA, stop: cancel, served: served}
}

// rawRequest writes raw bytes to the proxy and reads one response.
func rawRequest(t *testing.T, addr string, raw string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// absoluteRequest sends req in absolute form (as a sender that cannot
// install the CA does for https:// URLs) with Go's own request writer.
func absoluteRequest(t *testing.T, tp *testProxy, req *http.Request, tenant *secret.Tenant) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", tp.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if tenant != nil {
		req.Header.Set("Proxy-Authorization", tp.authHeader(*tenant))
	}
	// A write error is not fatal: the proxy may answer (413) and close
	// before it has read an oversize body.
	werr := req.WriteProxy(c)
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil && werr != nil {
		t.Fatalf("write request: %v; read response: %v", werr, err)
	}
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// clientRequest sends req through the proxy with tp.client(tenant)
// (CONNECT for https:// URLs) and returns the response with its body read
// and closed.
func clientRequest(t *testing.T, tp *testProxy, req *http.Request, tenant secret.Tenant) (*http.Response, []byte) {
	t.Helper()
	return doRead(t, tp.client(tenant), req)
}

// doRead sends req with c and returns the response with its body read and
// closed.
func doRead(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// bearerRequest is a GET of u whose Authorization is
// "Bearer {{secrets.weather_fx}}".
func bearerRequest(u string) *http.Request {
	req := mustReq("GET", u, nil, "")
	req.Header.Set("Authorization", "Bearer {{secrets.weather_fx}}")
	return req
}

// wantError checks a proxy error response: status, Sidekey-Error and the
// JSON body's code.
func wantError(t *testing.T, resp *http.Response, body []byte, code Code) {
	t.Helper()
	if resp.StatusCode != code.Status() || resp.Header.Get("Sidekey-Error") != string(code) {
		t.Fatalf("got %d Sidekey-Error=%q, want %d %s; body %s", resp.StatusCode, resp.Header.Get("Sidekey-Error"), code.Status(), code, body)
	}
	if !bytes.Contains(body, []byte(`"code":"`+string(code)+`"`)) {
		t.Fatalf("body does not name the code %s: %s", code, body)
	}
}

// wantRefused checks a proxy error response like wantError and that up
// received no request.
func wantRefused(t *testing.T, resp *http.Response, body []byte, code Code, up *upstream) {
	t.Helper()
	wantError(t, resp, body, code)
	if up.count() != 0 {
		t.Fatal("the upstream received the request")
	}
}

func pemBytes(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func newKeysForTest(keys ...string) (*tenantauth.Keys, error) {
	bs := make([][]byte, len(keys))
	for i, k := range keys {
		bs[i] = []byte(k)
	}
	return tenantauth.NewKeys(bs...)
}

// httptestServer serves h on loopback and returns its base URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

// metrics returns the text that /metrics serves.
func (tp *testProxy) metrics(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tp.ops.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// metricValue reads one sample of the proxy's metrics, such as
// `sidekey_proxy_requests_total{code="ok",mode="http"}`; the sample must
// be there.
func metricValue(t *testing.T, tp *testProxy, sample string) float64 {
	t.Helper()
	for line := range strings.Lines(tp.metrics(t)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s %s: %v", sample, v, err)
			}
			return f
		}
	}
	t.Fatalf("metrics lack %s", sample)
	return 0
}

func itoa(n int) string { return strconv.Itoa(n) }

// httptestTLS starts a TLS server with httptest's own certificate (not
// trusted by the proxy) and returns its port.
func httptestTLS(t *testing.T) string {
	t.Helper()
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	return port
}
