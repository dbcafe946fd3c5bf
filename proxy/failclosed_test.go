package proxy

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"
)

var otherTenant = secret.Tenant{Org: "acme", Domain: "support"}

// failCase is a request the proxy must refuse with code before anything
// reaches the upstream.
type failCase struct {
	name  string
	build func(base string) *http.Request
	code  Code
}

func failCases(t *testing.T) []failCase {
	return []failCase{
		{"unknown alias", getWithHeader("Authorization", "Bearer {{secrets.nope}}"), CodeSecretNotFound},
		{"another tenant's alias", getWithHeader("Authorization", "Bearer {{secrets.support_only}}"), CodeSecretNotFound},
		{"host not in allowed_hosts", postTo([]byte(`{"k":"{{secrets.elsewhere}}"}`), "application/json"), CodeHostNotAllowed},
		{"CR/LF in a header value", getWithHeader("X-Key", "{{secrets.crlf}}"), CodeUnsafeHeaderValue},
		{"missing field", func(b string) *http.Request {
			return mustReq("GET", b+"/x?k={{secrets.cfg.nope}}", nil, "")
		}, CodeFieldNotFound},
		{"malformed placeholder", postTo([]byte(`{{secrets.weather_fx | rot13}}`), "text/plain"), CodeInvalidPlaceholder},
		{"bare username_password", postTo([]byte(`{{secrets.twilio}}`), "text/plain"), CodeInvalidPlaceholder},
		{"brotli body", func(b string) *http.Request {
			r := mustReq("POST", b+"/x", []byte("\x1b\x03\x00\xf8\xa5\x02"), "application/json")
			r.Header.Set("Content-Encoding", "br")
			return r
		}, CodeUnsupportedEncoding},
		{"oversize body", postTo(bytes.Repeat([]byte("a"), 64<<10+1), "text/plain"), CodeBodyTooLarge},
		{"short nonce", getWithHeader("Sidekey-Nonce", "short"), CodeInvalidPlaceholder},
	}
}

// getWithHeader builds a GET of base/x with one header set.
func getWithHeader(name, value string) func(base string) *http.Request {
	return func(base string) *http.Request {
		r := mustReq("GET", base+"/x", nil, "")
		r.Header.Set(name, value)
		return r
	}
}

// postTo builds a POST of body to base/x.
func postTo(body []byte, contentType string) func(base string) *http.Request {
	return func(base string) *http.Request { return mustReq("POST", base+"/x", body, contentType) }
}

func failSecrets(tp *testProxy) {
	for alias, s := range matrixSecrets() {
		tp.resolver.put(testTenant, alias, s)
	}
	tp.resolver.put(otherTenant, "support_only", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "support-secret-value"}})
	tp.resolver.put(testTenant, "elsewhere", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "elsewhere-value-123"}, AllowedHosts: []string{"api.other.example"}})
	tp.resolver.put(testTenant, "crlf", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "abc\r\nX-Injected: 1"}})
}

func TestFailClosed(t *testing.T) {
	tp := startProxy(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	failSecrets(tp)
	tlsUp, plainUp := newUpstream(t, true), newUpstream(t, false)
	runFailCases(t, tp, tlsUp, plainUp, failCases(t))
}

func runFailCases(t *testing.T, tp *testProxy, tlsUp, plainUp *upstream, cases []failCase) {
	t.Helper()
	for _, s := range senders() {
		up := tlsUp
		if !s.https {
			up = plainUp
		}
		for _, fc := range cases {
			t.Run(s.name+"/"+fc.name, func(t *testing.T) {
				resp, body := s.send(t, tp, fc.build(strings.TrimSuffix(up.url(""), "/"))) //nolint:bodyclose // the helper read and closed the body
				wantError(t, resp, body, fc.code)
				for _, v := range []string{simpleValue, trickyValue, upPass, cfgKey, "support-secret-value", "elsewhere-value-123"} {
					if bytes.Contains(body, []byte(v)) {
						t.Fatalf("the error body reveals a value (%s)", fp([]byte(v)))
					}
				}
			})
		}
	}
	if n := tlsUp.count() + plainUp.count(); n != 0 {
		t.Fatalf("the upstreams received %d requests", n)
	}
}

func TestPlainHTTPInjectionRefused(t *testing.T) {
	tp := startProxy(t, nil) // AllowPlainHTTPInjection is off
	failSecrets(tp)
	up := newUpstream(t, false)
	resp, body := clientRequest(t, tp, bearerRequest(up.url("/x")), testTenant) //nolint:bodyclose // the helper read and closed the body
	wantError(t, resp, body, CodePlainHTTPInjectionRefused)
	// Without a placeholder, plain HTTP is forwarded.
	resp, _ = clientRequest(t, tp, mustReq("GET", up.url("/y"), nil, ""), testTenant) //nolint:bodyclose // the helper read and closed the body
	if resp.StatusCode != 200 || up.count() != 1 || up.requests()[0].URI != "/y" {
		t.Fatalf("plain request: status %d, upstream saw %d", resp.StatusCode, up.count())
	}
}

func TestStoreUnavailableColdCache(t *testing.T) {
	tp := startProxy(t, nil)
	tp.resolver.err = fmt.Errorf("fake: %w", secret.ErrUnavailable)
	up := newUpstream(t, true)
	resp, body := absoluteRequest(t, tp, bearerRequest(up.url("/x")), &testTenant) //nolint:bodyclose // the helper read and closed the body
	wantRefused(t, resp, body, CodeStoreUnavailable, up)
}

func TestStrictNonce(t *testing.T) {
	tp := startProxy(t, nil)
	failSecrets(tp)
	up := newUpstream(t, true)
	const nonce = "n0nce-0123456789abcdef"
	req := mustReq("POST", up.url("/x"), []byte(`{"a":"{{`+nonce+`:secrets.weather_fx}}","user":"{{secrets.weather_fx}}"}`), "application/json")
	req.Header.Set("Sidekey-Nonce", nonce)
	if resp, _ := clientRequest(t, tp, req, testTenant); resp.StatusCode != 200 { //nolint:bodyclose // the helper read and closed the body
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := up.requests()[0]
	want := `{"a":"` + simpleValue + `","user":"{{secrets.weather_fx}}"}`
	wantEqual(t, "strict body", got.Body, []byte(want))
	if got.Header.Get("Sidekey-Nonce") != "" {
		t.Fatal("Sidekey-Nonce reached the upstream")
	}
}

// TestGzipBombRefused checks that a small gzip body that decodes past the
// body limit is refused, not expanded.
func TestGzipBombRefused(t *testing.T) {
	tp := startProxy(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	failSecrets(tp)
	up := newUpstream(t, true)
	bomb := gz(t, append([]byte(`{"a":"{{secrets.weather_fx}}","pad":"`), bytes.Repeat([]byte("a"), 1<<20)...))
	req := mustReq("POST", up.url("/x"), bomb, "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, body := absoluteRequest(t, tp, req, &testTenant) //nolint:bodyclose // the helper read and closed the body
	wantRefused(t, resp, body, CodeBodyTooLarge, up)
}

// TestTunnelTenantIsFixed checks that a Proxy-Authorization sent inside an
// intercepted tunnel cannot switch the tunnel to another tenant.
func TestTunnelTenantIsFixed(t *testing.T) {
	tp := startProxy(t, nil)
	failSecrets(tp)
	up := newUpstream(t, true)
	req := mustReq("GET", up.url("/x"), nil, "")
	req.Header.Set("Authorization", "Bearer {{secrets.support_only}}")
	req.Header.Set("Proxy-Authorization", tp.authHeader(otherTenant))
	resp, body := clientRequest(t, tp, req, testTenant) //nolint:bodyclose // CONNECT as testTenant; the helper read and closed the body
	wantRefused(t, resp, body, CodeSecretNotFound, up)
}
