package adminapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"

	"github.com/sidekey/sidekey/internal/errcode"
)

func TestSecurityHeaders(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html></html>") })
	h := newHarness(t, newFakeStore(), func(c *Config) { c.UI = ui })
	tok := orgAdmin(t, orgA)
	for _, tc := range []struct {
		name, path, token string
		api               bool
	}{
		{"api success", basePath + "/secrets", tok, true},
		{"api error", basePath + "/secrets", "", true},
		{"openapi", "/v1/openapi.json", "", true},
		{"healthz", "/healthz", "", true},
		{"ui", "/", "", false},
		{"ui asset", "/app.js", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("GET", tc.path, tc.token, nil)
			if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := r.header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options = %q", got)
			}
			csp := r.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP = %q", csp)
			}
			if tc.api {
				if got := r.header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
				if !strings.HasPrefix(csp, "default-src 'none'") {
					t.Errorf("API CSP = %q", csp)
				}
			} else if !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("UI CSP = %q", csp)
			}
			if r.header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("CORS header without configured origins")
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	h := newHarness(t, newFakeStore())
	r := h.doHeaders("GET", "/healthz", "", nil, map[string]string{"X-Request-Id": "abc-123"})
	if got := r.header.Get(headerRequestID); got != "abc-123" {
		t.Errorf("kept id = %q", got)
	}
	for _, bad := range []string{"has space", strings.Repeat("a", 200), "semi;colon"} {
		r := h.doHeaders("GET", "/healthz", "", nil, map[string]string{"X-Request-Id": bad})
		got := r.header.Get(headerRequestID)
		if got == bad || len(got) != 32 {
			t.Errorf("bad id %q answered with %q, want a fresh one", bad, got)
		}
	}
	a := h.do("GET", "/healthz", "", nil).header.Get(headerRequestID)
	b := h.do("GET", "/healthz", "", nil).header.Get(headerRequestID)
	if a == "" || a == b {
		t.Errorf("generated ids %q and %q", a, b)
	}
}

func TestCORS(t *testing.T) {
	h := newHarness(t, newFakeStore(), func(c *Config) { c.CORSOrigins = []string{"https://console.example.com"} })
	pre := func(origin string) response {
		return h.doHeaders("OPTIONS", basePath+"/secrets", "", nil, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization, content-type",
		})
	}
	r := pre("https://console.example.com")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://console.example.com" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Errorf("allowed preflight: %d %v", r.status, r.header)
	}
	if r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials allowed")
	}
	r = pre("https://evil.example.com")
	if r.header.Get("Access-Control-Allow-Origin") != "" || r.status == http.StatusNoContent {
		t.Errorf("foreign preflight: %d %v", r.status, r.header)
	}
	r = h.doHeaders("GET", basePath+"/secrets", orgAdmin(t, orgA), nil, map[string]string{"Origin": "https://console.example.com"})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://console.example.com" ||
		r.header.Get("Access-Control-Expose-Headers") != headerRequestID {
		t.Errorf("allowed GET: %d %v", r.status, r.header)
	}
}

// getOps GETs path (/metrics, /healthz, /readyz) from the harness's ops
// handler over HTTP.
func (h *harness) getOps(t *testing.T, path string) response {
	t.Helper()
	ms := httptest.NewServer(h.ops)
	defer ms.Close()
	resp, err := http.Get(ms.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, newFakeStore())
	h.mustCreate(tokenBody("m1", "v"))
	h.do("GET", basePath+"/secrets", "", nil)
	r := h.getOps(t, "/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("metrics: %d", r.status)
	}
	text := string(r.body)
	for _, want := range []string{
		`sidekey_admin_requests_total{route="POST /v1/orgs/{org}/domains/{domain}/secrets",status="201"} 1`,
		`sidekey_admin_requests_total{route="GET /v1/orgs/{org}/domains/{domain}/secrets",status="401"} 1`,
		`sidekey_admin_audit_events_total{action="create",outcome="success"} 1`,
		`sidekey_admin_audit_events_total{action="list",outcome="unauthenticated"} 1`,
		"sidekey_admin_request_duration_seconds_bucket",
		"go_goroutines",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := h.getOps(t, p); r.status != http.StatusOK {
			t.Errorf("metrics listener %s: %d", p, r.status)
		}
	}
}

func TestPanicIsInternalError(t *testing.T) {
	h := newHarness(t, panicStore{newFakeStore()})
	r := h.do("GET", basePath+"/secrets", orgAdmin(t, orgA), nil)
	if r.status != http.StatusInternalServerError || r.errorCode() != errcode.Internal {
		t.Errorf("panicking store: %d %q", r.status, r.errorCode())
	}
	if strings.Contains(h.logs.String(), "panic-payload") {
		t.Error("the panic value was logged")
	}
}

type panicStore struct{ *fakeStore }

func (panicStore) List(context.Context, secret.Tenant) ([]secret.Metadata, error) {
	panic("panic-payload")
}
