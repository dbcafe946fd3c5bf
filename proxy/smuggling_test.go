package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestSmugglingRefused(t *testing.T) {
	tp := startProxy(t, nil)
	failSecrets(tp)
	up := newUpstream(t, true)
	auth := "Proxy-Authorization: " + tp.authHeader(testTenant) + "\r\n"
	target := up.url("/x")
	host := upstreamHost + ":" + up.port()
	tests := []struct {
		name string
		raw  string
		code Code
	}{
		{"Content-Length and Transfer-Encoding", "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + auth +
			"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", CodeInvalidRequest},
		{"two Content-Lengths", "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + auth +
			"Content-Length: 4\r\nContent-Length: 40\r\n\r\nabcd", CodeInvalidRequest},
		{"Transfer-Encoding other than chunked", "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + auth +
			"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", CodeInvalidRequest},
		{"CR in the request line", "GET " + target + "\rX HTTP/1.1\r\nHost: " + host + "\r\n" + auth + "\r\n", CodeInvalidRequest},
		{"LF in the request line", "GET " + target + "\nX: y HTTP/1.1\r\nHost: " + host + "\r\n" + auth + "\r\n", CodeInvalidRequest},
		{"bare CR in a header value", "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + auth + "X-A: a\rb\r\n\r\n", CodeInvalidRequest},
		{"absolute URI and Host differ", "GET " + target + " HTTP/1.1\r\nHost: evil.example\r\n" + auth + "\r\n", CodeHostNotAllowed},
		{"absolute URI and Host differ in port", "GET " + target + " HTTP/1.1\r\nHost: " + upstreamHost + ":1\r\n" + auth + "\r\n", CodeHostNotAllowed},
		{"two Host headers", "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nHost: evil.example\r\n" + auth + "\r\n", CodeInvalidRequest},
		{"origin-form to the proxy", "GET /x HTTP/1.1\r\nHost: " + host + "\r\n" + auth + "\r\n", CodeInvalidRequest},
		{"placeholder in the host", "GET https://{{secrets.weather_fx}}.example/ HTTP/1.1\r\n" + auth + "\r\n", CodeInvalidRequest},
		{"escaped placeholder in the host", "GET https://%7B%7Bsecrets.weather_fx%7D%7D.example/ HTTP/1.1\r\n" + auth + "\r\n", CodeInvalidRequest},
		{"placeholder in the port", "GET https://" + upstreamHost + ":%7B%7Bsecrets.weather_fx%7D%7D/ HTTP/1.1\r\n" + auth + "\r\n", CodeInvalidRequest},
		{"user info in the URI", "GET https://u:p@" + host + "/ HTTP/1.1\r\n" + auth + "\r\n", CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawRequest(t, tp.addr, tc.raw) //nolint:bodyclose // the helper read and closed the body
			wantError(t, resp, body, tc.code)
		})
	}
	if up.count() != 0 {
		t.Fatalf("the upstream received %d requests", up.count())
	}
}

// TestTunnelHostMismatch checks that inside an intercepted tunnel a TLS
// handshake or a request for another host is refused: the CONNECT target
// is the destination.
func TestTunnelHostMismatch(t *testing.T) {
	tp := startProxy(t, nil)
	up := newUpstream(t, true)
	target := upstreamHost + ":" + up.port()
	t.Run("SNI", func(t *testing.T) {
		c := rawTunnel(t, tp, "CONNECT "+target+" HTTP/1.0\r\nProxy-Authorization: "+tp.authHeader(testTenant)+"\r\n\r\n")
		tc := tls.Client(c, &tls.Config{ServerName: "evil.example", InsecureSkipVerify: true}) // #nosec G402 -- the handshake must fail on the proxy's side
		if err := tc.Handshake(); err == nil {
			t.Fatal("the proxy completed a TLS handshake for a foreign SNI")
		}
	})
	c := rawTunnel(t, tp, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\nProxy-Authorization: "+tp.authHeader(testTenant)+"\r\n\r\n")
	pool := x509.NewCertPool()
	pool.AddCert(tp.ca.Cert)
	tc := tls.Client(c, &tls.Config{ServerName: upstreamHost, RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tbr := bufio.NewReader(tc)
	for _, tcase := range []struct {
		name, raw string
		code      Code
	}{
		{"Host header", "GET /x HTTP/1.1\r\nHost: other.upstream.test:" + up.port() + "\r\n\r\n", CodeHostNotAllowed},
		{"absolute URI", "GET https://other.upstream.test:" + up.port() + "/x HTTP/1.1\r\nHost: " + target + "\r\n\r\n", CodeHostNotAllowed},
	} {
		t.Run(tcase.name, func(t *testing.T) {
			_, _ = io.WriteString(tc, tcase.raw)
			resp, err := http.ReadResponse(tbr, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			wantError(t, resp, body, tcase.code)
		})
	}
	if up.count() != 0 {
		t.Fatalf("the upstream received %d requests", up.count())
	}
}

// rawTunnel writes the CONNECT request head connect to the proxy and
// returns the connection once the proxy answered 200 (closed when the test
// ends).
func rawTunnel(t *testing.T, tp *testProxy, connect string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tp.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, connect)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	if br.Buffered() != 0 {
		t.Fatal("bytes after the CONNECT response")
	}
	return c
}

// TestChunkedRequestBody checks that a well-formed chunked request body is
// injected and forwarded with a Content-Length.
func TestChunkedRequestBody(t *testing.T) {
	tp := startProxy(t, nil)
	failSecrets(tp)
	up := newUpstream(t, true)
	body := `{"auth":"{{secrets.weather_fx}}"}`
	raw := "POST " + up.url("/chunked") + " HTTP/1.1\r\nHost: " + upstreamHost + ":" + up.port() + "\r\nProxy-Authorization: " + tp.authHeader(testTenant) +
		"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"a\r\n" + body[:10] + "\r\n" + strconv.FormatInt(int64(len(body)-10), 16) + "\r\n" + body[10:] + "\r\n0\r\n\r\n"
	resp, respBody := rawRequest(t, tp.addr, raw) //nolint:bodyclose // the helper read and closed the body
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, respBody)
	}
	got := up.requests()[0]
	wantEqual(t, "body", got.Body, []byte(`{"auth":"`+simpleValue+`"}`))
	if got.ContentLength != int64(len(got.Body)) {
		t.Fatalf("upstream saw Content-Length %d for a %d-byte body", got.ContentLength, len(got.Body))
	}
}
