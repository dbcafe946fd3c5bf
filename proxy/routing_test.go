package proxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
)

func TestRoutingModesWithoutPlaceholders(t *testing.T) {
	tp := startProxy(t, nil)
	tlsUp := newUpstream(t, true)
	plainUp := newUpstream(t, false)

	t.Run("CONNECT intercepted", func(t *testing.T) {
		req := mustReq("POST", tlsUp.url("/v1/send?x=1"), []byte(`{"a":1}`), "application/json")
		resp, body := clientRequest(t, tp, req, testTenant) //nolint:bodyclose // the helper read and closed the body
		if resp.StatusCode != 200 || string(body) != "upstream ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
			t.Fatalf("an HTTP/2-capable client did not speak h2 over TLS to the proxy: %+v", resp.TLS)
		}
		if resp.TLS.PeerCertificates[0].Issuer.CommonName != "Sidekey test CA" {
			t.Fatalf("leaf issued by %q", resp.TLS.PeerCertificates[0].Issuer.CommonName)
		}
		got := tlsUp.requests()
		last := got[len(got)-1]
		if last.URI != "/v1/send?x=1" || string(last.Body) != `{"a":1}` || last.Method != "POST" {
			t.Fatalf("upstream got %s %s %q", last.Method, last.URI, last.Body)
		}
		if last.Host != upstreamHost+":"+tlsUp.port() {
			t.Fatalf("upstream Host %q", last.Host)
		}
		for name := range last.Header {
			if strings.HasPrefix(strings.ToLower(name), "proxy-") || strings.HasPrefix(strings.ToLower(name), "sidekey-") {
				t.Fatalf("header %s reached the upstream", name)
			}
		}
	})

	t.Run("absolute https over plain HTTP", func(t *testing.T) {
		req, _ := http.NewRequest("GET", tlsUp.url("/path/a%2Fb?q=1"), nil)
		req.Header.Set("Sidekey-Nonce", "0123456789abcdef0123")
		req.Header.Set("Connection", "X-Drop")
		req.Header.Set("X-Drop", "1")
		resp, body := absoluteRequest(t, tp, req, &testTenant) //nolint:bodyclose // the helper read and closed the body
		if resp.StatusCode != 200 || string(body) != "upstream ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		got := tlsUp.requests()
		last := got[len(got)-1]
		if last.URI != "/path/a%2Fb?q=1" {
			t.Fatalf("upstream got URI %q, want it unnormalised", last.URI)
		}
		if last.Header.Get("X-Drop") != "" || last.Header.Get("Sidekey-Nonce") != "" || last.Header.Get("Proxy-Authorization") != "" {
			t.Fatalf("hop-by-hop or proxy headers forwarded: %v", last.Header)
		}
	})

	t.Run("absolute http", func(t *testing.T) {
		resp, body := clientRequest(t, tp, mustReq("GET", plainUp.url("/plain"), nil, ""), testTenant) //nolint:bodyclose // the helper read and closed the body
		if resp.StatusCode != 200 || string(body) != "upstream ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if plainUp.count() != 1 {
			t.Fatalf("plain upstream got %d requests", plainUp.count())
		}
	})

	t.Run("HTTP/1.1-only client speaks HTTP/1.1", func(t *testing.T) {
		c := tp.client(testTenant)
		tr := c.Transport.(*http.Transport)
		tr.ForceAttemptHTTP2 = false
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		resp, err := c.Get(tlsUp.url("/h2"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.ProtoMajor != 1 {
			t.Fatalf("proto %s", resp.Proto)
		}
	})
}

func TestStreamingResponse(t *testing.T) {
	tp := startProxy(t, nil)
	up := newUpstream(t, true)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	up.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		fl := w.(http.Flusher)
		for range 20 {
			_, _ = w.Write(chunk)
			fl.Flush()
		}
	}
	resp, err := tp.client(testTenant).Get(up.url("/stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != int64(20*len(chunk)) {
		t.Fatalf("read %d bytes, err %v", n, err)
	}
}

func TestTenantAuth(t *testing.T) {
	tp := startProxy(t, nil)
	up := newUpstream(t, true)
	other, _ := newKeysForTest("another-key-0123456789abcdef")
	tests := []struct {
		name string
		auth string
		code Code
	}{
		{"missing", "", CodeProxyAuthRequired},
		{"garbage", "Basic !!!", CodeProxyAuthInvalid},
		{"wrong key", "Basic " + b64(other.UserPass(testTenant)), CodeProxyAuthInvalid},
		{"credential of another tenant", "Basic " + b64("acme.support:"+tp.keys.Sign(testTenant)), CodeProxyAuthInvalid},
	}
	for _, tc := range tests {
		t.Run("absolute "+tc.name, func(t *testing.T) {
			raw := "GET " + up.url("/x") + " HTTP/1.1\r\nHost: " + upstreamHost + ":" + up.port() + "\r\n"
			if tc.auth != "" {
				raw += "Proxy-Authorization: " + tc.auth + "\r\n"
			}
			resp, body := rawRequest(t, tp.addr, raw+"\r\n") //nolint:bodyclose // the helper read and closed the body
			wantError(t, resp, body, tc.code)
			if resp.Header.Get("Proxy-Authenticate") == "" {
				t.Fatal("no Proxy-Authenticate challenge")
			}
		})
		t.Run("CONNECT "+tc.name, func(t *testing.T) {
			raw := "CONNECT " + upstreamHost + ":" + up.port() + " HTTP/1.1\r\nHost: " + upstreamHost + ":" + up.port() + "\r\n"
			if tc.auth != "" {
				raw += "Proxy-Authorization: " + tc.auth + "\r\n"
			}
			resp, body := rawRequest(t, tp.addr, raw+"\r\n") //nolint:bodyclose // the helper read and closed the body
			wantError(t, resp, body, tc.code)
		})
	}
	if up.count() != 0 {
		t.Fatalf("upstream received %d requests", up.count())
	}
	// Every refusal, of a request or of a CONNECT, is counted once.
	if got, want := metricValue(t, tp, "sidekey_proxy_auth_failures_total"), float64(2*len(tests)); got != want {
		t.Fatalf("sidekey_proxy_auth_failures_total = %v, want %v", got, want)
	}
}

func TestPassthrough(t *testing.T) {
	up := newUpstream(t, true)
	tp := startProxy(t, func(c *Config) { c.PassthroughHosts = []string{"*.upstream.test"} })
	c := tp.client(testTenant)
	// The client must see the upstream's own certificate, not a Sidekey leaf.
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: upstreamRoots(t), MinVersion: tls.VersionTLS12}
	resp, err := c.Get(up.url("/through?{{secrets.x}}"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.TLS.PeerCertificates[0].Issuer.CommonName != "upstream test CA" {
		t.Fatalf("passthrough presented a certificate from %q", resp.TLS.PeerCertificates[0].Issuer.CommonName)
	}
	got := up.requests()
	if len(got) != 1 || !strings.Contains(got[0].URI, "{{secrets.x}}") {
		t.Fatalf("passthrough did not pass the request untouched: %+v", got)
	}
	if tp.resolver.calls != 0 {
		t.Fatal("passthrough resolved secrets")
	}
}

func TestDestinationForbidden(t *testing.T) {
	up := newUpstream(t, true)
	tp := startProxy(t, func(c *Config) { c.AllowUpstreamCIDRs = nil })
	tp.resolver.put(testTenant, "tok", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "tok-value-123456"}})
	t.Run("CONNECT by name resolving to loopback", func(t *testing.T) {
		resp, err := tp.client(testTenant).Get(up.url("/x"))
		if err == nil {
			_ = resp.Body.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "Forbidden") {
			t.Fatalf("want the CONNECT refused with 403, got %v", err)
		}
	})
	t.Run("absolute https to 127.0.0.1", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:"+up.port()+"/x", nil)
		resp, body := absoluteRequest(t, tp, req, &testTenant) //nolint:bodyclose // the helper read and closed the body
		wantError(t, resp, body, CodeDestinationForbidden)
	})
	t.Run("absolute http to [::1]", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://[::1]:"+up.port()+"/x", nil)
		resp, body := absoluteRequest(t, tp, req, &testTenant) //nolint:bodyclose // the helper read and closed the body
		wantError(t, resp, body, CodeDestinationForbidden)
	})
	if up.count() != 0 {
		t.Fatalf("upstream received %d requests", up.count())
	}
}

func TestMatchesHostHeader(t *testing.T) {
	d, err := parseAuthority([]byte("API.Example.com:8443"), true, true)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := parseAuthority([]byte("[::1]:8443"), true, true)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		d    dest
		host string
		want bool
	}{
		{d, "api.example.com:8443", true},
		{d, "API.EXAMPLE.COM:8443", true},
		{d, "api.example.com", true},
		{d, "api.example.com:443", false},
		{d, "evil.example.com:8443", false},
		{d, "api.example.com.evil:8443", false},
		{v6, "[::1]:8443", true},
		{v6, "[::1]", true},
		{v6, "[::1]:1", false},
		{v6, "[::2]:8443", false},
	}
	for _, tc := range tests {
		if got := tc.d.matchesHostHeader([]byte(tc.host)); got != tc.want {
			t.Errorf("%s vs Host %q: %v, want %v", tc.d.authority, tc.host, got, tc.want)
		}
	}
}

// TestStreamingIsNotBuffered checks that a response without injected values
// reaches the sender while the upstream is still writing it: the upstream
// sends its first chunk and waits until the sender has read it.
func TestStreamingIsNotBuffered(t *testing.T) {
	tp := startProxy(t, nil)
	up := newUpstream(t, true)
	gotFirst := make(chan struct{}, 1)
	up.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		_, _ = w.Write([]byte("first;"))
		w.(http.Flusher).Flush()
		select {
		case <-gotFirst:
			_, _ = w.Write([]byte("second"))
		case <-time.After(10 * time.Second):
			_, _ = w.Write([]byte("gave-up"))
		}
	}
	for _, mode := range []string{"CONNECT", "absolute-http"} {
		t.Run(mode, func(t *testing.T) {
			url := up.url("/stream")
			if mode != "CONNECT" {
				plain := newUpstream(t, false)
				plain.answer = up.answer
				url = plain.url("/stream")
			}
			resp, err := tp.client(testTenant).Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			buf := make([]byte, len("first;"))
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatal(err)
			}
			gotFirst <- struct{}{}
			rest, _ := io.ReadAll(resp.Body)
			if string(buf)+string(rest) != "first;second" {
				t.Fatalf("got %q: the proxy held the first chunk back", string(buf)+string(rest))
			}
		})
	}
}
