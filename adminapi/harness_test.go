package adminapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sidekey/sidekey/internal/errcode"

	"github.com/sidekey/sidekey/internal/ops"
)

// Test tenants: the matrix works on (orgA, domX).
const (
	orgA     = "org-a"
	orgB     = "org-b"
	domX     = "dom-x"
	domY     = "dom-y"
	testIss  = "https://issuer.test"
	testAud  = "sidekey-admin"
	basePath = "/v1/orgs/" + orgA + "/domains/" + domX
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef-test-key")
	otherKey = []byte("fedcba9876543210fedcba9876543210-other-key")
)

// syncBuffer collects encoded log lines from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Sync() error { return nil }

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the decoded JSON log lines whose logger is name ("" for all).
func (b *syncBuffer) lines(t *testing.T, name string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON (%d bytes): %v", len(l), err)
		}
		if name == "" || m["logger"] == name {
			out = append(out, m)
		}
	}
	return out
}

// newTestLogger returns a JSON logger at debug level writing into buf.
func newTestLogger(buf *syncBuffer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), buf, zapcore.DebugLevel))
}

// harness is an admin API on an httptest server, with its logs.
type harness struct {
	t    *testing.T
	srv  *httptest.Server
	api  *Server
	logs *syncBuffer
	// ops serves /metrics, /healthz and /readyz as the command does.
	ops http.Handler
	// adminToken, when set, is the org admin of org A that mustCreate uses
	// (default: an HS256 token of testKey).
	adminToken string
}

// newHarness starts the API over store; iss and aud are required.
func newHarness(t *testing.T, store Store, mod ...func(*Config)) *harness {
	t.Helper()
	return newHarnessLogs(t, store, &syncBuffer{}, mod...)
}

// newHarnessLogs is newHarness with the log buffer of the caller (which
// may also receive the store's logs).
func newHarnessLogs(t testing.TB, store Store, logs *syncBuffer, mod ...func(*Config)) *harness {
	t.Helper()
	reg := ops.NewRegistry()
	cfg := Config{
		Registerer: reg,
		Store:      store,
		Auth:       AuthConfig{HS256Key: testKey, Issuer: testIss, Audience: testAud, Leeway: 30 * time.Second},
		Logger:     newTestLogger(logs),
	}
	for _, m := range mod {
		m(&cfg)
	}
	api, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	h := &harness{srv: srv, api: api, logs: logs, ops: ops.Handler(api.OpsConfig(reg))}
	if tt, ok := t.(*testing.T); ok {
		h.t = tt
	}
	return h
}

// with returns the harness for subtest t, so that failures are t's.
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// response is what one call got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the error code of an error body, or "".
func (r response) errorCode() errcode.Code {
	var b errorBody
	_ = json.Unmarshal(r.body, &b)
	return b.Error.Code
}

// fields returns the field names of an invalid_request body.
func (r response) fields() []string {
	var b errorBody
	_ = json.Unmarshal(r.body, &b)
	var out []string
	for _, f := range b.Error.Fields {
		out = append(out, f.Field)
	}
	return out
}

// do sends one request; body is a string (sent as is) or a value encoded
// as JSON.
func (h *harness) do(method, path, token string, body any) response {
	h.t.Helper()
	return h.doHeaders(method, path, token, body, nil)
}

func (h *harness) doHeaders(method, path, token string, body any, hdr map[string]string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// mint signs claims for the test server.
func mint(t *testing.T, key []byte, c Claims) string {
	t.Helper()
	if c.Issuer == "" {
		c.Issuer = testIss
	}
	if c.Audience == nil {
		c.Audience = jwt.ClaimStrings{testAud}
	}
	if c.ExpiresAt == nil {
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	}
	if c.Subject == "" {
		c.Subject = "alice@" + c.Org
	}
	tok, err := MintHS256(key, c)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

func orgAdmin(t *testing.T, org string) string {
	return mint(t, testKey, Claims{Role: RoleOrgAdmin, Org: org})
}

func domainAdmin(t *testing.T, org string, domains ...string) string {
	return mint(t, testKey, Claims{Role: RoleDomainAdmin, Org: org, Domains: domains})
}

// tokenValue and friends build create bodies.
func tokenBody(alias, token string) map[string]any {
	return map[string]any{"alias": alias, "type": "token", "value": map[string]any{"token": token}}
}

func upBody(alias, user, pass string) map[string]any {
	return map[string]any{"alias": alias, "type": "username_password",
		"value": map[string]any{"username": user, "password": pass}}
}

func jsonBody(alias string, obj any) map[string]any {
	return map[string]any{"alias": alias, "type": "json", "value": map[string]any{"json": obj}}
}

// snapshot is the tenant's list as the API answers it, to show that a
// refused call wrote nothing.
func (h *harness) snapshot(org, domain string) string {
	h.t.Helper()
	r := h.do("GET", "/v1/orgs/"+org+"/domains/"+domain+"/secrets", orgAdmin(h.t, org), nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("snapshot list: status %d %s", r.status, r.body)
	}
	return string(r.body)
}

func (h *harness) mustCreate(body map[string]any) {
	h.t.Helper()
	admin := h.adminToken
	if admin == "" {
		admin = orgAdmin(h.t, orgA)
	}
	r := h.do("POST", basePath+"/secrets", admin, body)
	if r.status != http.StatusCreated {
		h.t.Fatalf("create %v: status %d code %q fields %v", body["alias"], r.status, r.errorCode(), r.fields())
	}
}
