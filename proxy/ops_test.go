package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/testbin"
)

func TestConnectToIPAddress(t *testing.T) {
	tp := startProxy(t, nil)
	tp.resolver.put(testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}, AllowedHosts: []string{"127.0.0.1"}})
	up := newUpstreamFor(t, true, "127.0.0.1")
	resp, _ := clientRequest(t, tp, bearerRequest("https://127.0.0.1:"+up.port()+"/ip"), testTenant) //nolint:bodyclose // the helper read and closed the body
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Fatalf("leaf names %v %v, want the IP address", leaf.DNSNames, leaf.IPAddresses)
	}
	wantEqual(t, "Authorization", []byte(up.requests()[0].Header.Get("Authorization")), []byte("Bearer "+simpleValue))
}

func TestResponseHeadersStripped(t *testing.T) {
	tp := startProxy(t, nil)
	up := newUpstream(t, true)
	up.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		h := w.Header()
		h.Set("Sidekey-Error", "secret_not_found")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("X-Kept", "yes")
		_, _ = w.Write([]byte("ok"))
	}
	for _, mode := range []string{"CONNECT", "absolute"} {
		t.Run(mode, func(t *testing.T) {
			req := mustReq("GET", up.url("/x"), nil, "")
			var resp *http.Response
			if mode == "CONNECT" {
				resp, _ = clientRequest(t, tp, req, testTenant) //nolint:bodyclose // the helper read and closed the body
			} else {
				resp, _ = absoluteRequest(t, tp, req, &testTenant) //nolint:bodyclose // the helper read and closed the body
			}
			for _, h := range []string{"Sidekey-Error", "Proxy-Authenticate", "X-Hop", "Keep-Alive"} {
				if resp.Header.Get(h) != "" {
					t.Errorf("%s reached the sender", h)
				}
			}
			if resp.Header.Get("X-Kept") != "yes" {
				t.Error("an end-to-end header was dropped")
			}
		})
	}
}

func TestHeaderLimit(t *testing.T) {
	tp := startProxy(t, func(c *Config) { c.MaxHeaderBytes = 4096 })
	up := newUpstream(t, true)
	raw := "GET " + up.url("/x") + " HTTP/1.1\r\nHost: " + upstreamHost + ":" + up.port() + "\r\nX-Big: " + strings.Repeat("a", 8192) + "\r\n\r\n"
	resp, body := rawRequest(t, tp.addr, raw) //nolint:bodyclose // the helper read and closed the body
	wantRefused(t, resp, body, CodeHeadersTooLarge, up)
}

// TestGracefulDrain cancels the proxy while a request is in flight: the
// request completes, new connections are refused, Serve returns.
func TestGracefulDrain(t *testing.T) {
	authority := testCA(t)
	core, logs := observer.New(zapcore.DebugLevel)
	tp := serveProxy(t, Config{
		Resolver: newFakeResolver(), Keys: testKeys, CA: authority, UpstreamRoots: upstreamRoots(t),
		AllowUpstreamCIDRs: loopbackCIDRs, LookupNetIP: loopbackLookup, DrainTimeout: 5 * time.Second,
	}, zap.New(core))

	up := newUpstream(t, true)
	inHandler := make(chan struct{})
	release := make(chan struct{})
	up.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		close(inHandler)
		<-release
		_, _ = w.Write([]byte("finished"))
	}
	var wg sync.WaitGroup
	var body []byte
	var reqErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := tp.client(testTenant).Get(up.url("/slow"))
		if err != nil {
			reqErr = err
			return
		}
		defer func() { _ = resp.Body.Close() }()
		body, reqErr = io.ReadAll(resp.Body)
	}()
	select {
	case <-inHandler:
	case <-time.After(20 * time.Second):
		t.Fatal("the request never reached the upstream")
	}
	tp.stop()
	// Wait until the proxy stopped accepting, then finish the request.
	for tp.p.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if reqErr != nil || string(body) != "finished" {
		t.Fatalf("in-flight request: %q, %v", body, reqErr)
	}
	if err := tp.served(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", tp.addr, time.Second); err == nil {
		t.Fatal("the proxy still accepts connections after the drain")
	}
	if logs.FilterMessage("drained").Len() != 1 {
		t.Fatal("no drained log line")
	}
}

// TestLogsCarryNoSecrets runs requests that succeed and fail at debug level
// and checks that no value or credential appears in any log line.
func TestLogsCarryNoSecrets(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	tp := startProxyWithLogger(t, zap.New(core), func(c *Config) { c.AllowPlainHTTPInjection = true })
	failSecrets(tp)
	up := newUpstream(t, true)
	up.answer = echoAnswer
	for _, h := range []string{"Bearer {{secrets.weather_fx}}", "{{secrets.crlf}}", "{{secrets.nope}}"} {
		req := mustReq("GET", up.url("/x"), nil, "")
		req.Header.Set("Authorization", h)
		clientRequest(t, tp, req, testTenant) //nolint:bodyclose // the helper read and closed the body
	}
	resp, _ := rawRequest(t, tp.addr, "GET "+up.url("/x")+" HTTP/1.1\r\nHost: "+upstreamHost+":"+up.port()+"\r\nProxy-Authorization: Basic "+b64("acme.billing:wrong-credential-value")+"\r\n\r\n") //nolint:bodyclose // the helper read and closed the body
	if resp.StatusCode != 407 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged")
	}
	cred := tp.keys.Sign(testTenant)
	for _, e := range logs.All() {
		line := e.Message
		for _, f := range e.Context {
			line += " " + f.Key + "=" + f.String
			if f.Interface != nil {
				if err, ok := f.Interface.(error); ok {
					line += " " + err.Error()
				}
			}
		}
		for _, bad := range []string{simpleValue, "X-Injected", cred, "wrong-credential-value"} {
			if strings.Contains(line, bad) {
				t.Fatalf("a log line carries a value or credential (%s)", fp([]byte(bad)))
			}
		}
	}

}

func TestUpstreamFailures(t *testing.T) {
	tp := startProxy(t, func(c *Config) { c.UpstreamTimeout = 300 * time.Millisecond })
	slow := newUpstream(t, true)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	}
	_, closedPort, _ := net.SplitHostPort(testbin.FreeHostPort(t))
	untrusted := httptestTLS(t) // a certificate the proxy does not trust

	for _, tc := range []struct {
		name string
		url  string
		code Code
	}{
		{"timeout", slow.url("/slow"), CodeUpstreamTimeout},
		{"connection refused", "https://" + upstreamHost + ":" + closedPort + "/x", CodeUpstreamUnreachable},
		{"unknown host", "https://nowhere.invalid/x", CodeUpstreamUnreachable},
		{"untrusted certificate", "https://127.0.0.1:" + untrusted + "/x", CodeUpstreamUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := absoluteRequest(t, tp, mustReq("GET", tc.url, nil, ""), &testTenant) //nolint:bodyclose // the helper read and closed the body
			wantError(t, resp, body, tc.code)
		})
	}
}

func TestHeadAndExpectContinue(t *testing.T) {
	tp := startProxy(t, nil)
	up := newUpstream(t, true)
	up.answer = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Length", itoa(len(body)+100))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(append(body, strings.Repeat("x", 100)...))
	}
	resp, err := tp.client(testTenant).Head(up.url("/head"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 100 {
		t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	// The same with an injected value (the response goes through the
	// scrubber, which must keep the HEAD response's length).
	tp.resolver.put(testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	head := mustReq("HEAD", up.url("/head"), nil, "")
	head.Header.Set("Authorization", "Bearer {{secrets.weather_fx}}")
	resp, err = tp.client(testTenant).Do(head)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 100 {
		t.Fatalf("HEAD with injection: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	big := strings.Repeat("b", 2<<20)
	req := mustReq("POST", up.url("/expect"), []byte(big), "text/plain")
	req.Header.Set("Expect", "100-continue")
	resp, err = tp.client(testTenant).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || n != int64(len(big)+100) {
		t.Fatalf("Expect: %d, %d bytes", resp.StatusCode, n)
	}
	last := up.requests()[len(up.requests())-1]
	if last.Header.Get("Expect") != "" || len(last.Body) != len(big) {
		t.Fatalf("upstream got Expect %q and %d bytes", last.Header.Get("Expect"), len(last.Body))
	}
}

// TestTunnelLimit opens as many tunnels as --max-conns allows and checks
// that one more CONNECT is refused while they are open.
func TestTunnelLimit(t *testing.T) {
	tp := startProxy(t, func(c *Config) { c.MaxConns = 2 })
	up := newUpstream(t, true)
	target := upstreamHost + ":" + up.port()
	connect := func() (net.Conn, *http.Response) {
		c, err := net.DialTimeout("tcp", tp.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\nProxy-Authorization: "+tp.authHeader(testTenant)+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "CONNECT"})
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return c, resp
	}
	for i := range 2 {
		c, resp := connect() //nolint:bodyclose // connect closed the body
		defer func() { _ = c.Close() }()
		if resp.StatusCode != 200 {
			t.Fatalf("tunnel %d: %d", i, resp.StatusCode)
		}
	}
	c, resp := connect() //nolint:bodyclose // connect closed the body
	defer func() { _ = c.Close() }()
	if resp.StatusCode != CodeTooManyConnections.Status() || resp.Header.Get("Sidekey-Error") != string(CodeTooManyConnections) {
		t.Fatalf("third tunnel: %d %q", resp.StatusCode, resp.Header.Get("Sidekey-Error"))
	}
}

// TestConnectToIPv6 intercepts a CONNECT to an IPv6 literal.
func TestConnectToIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	tp := startProxy(t, nil)
	tp.resolver.put(testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}, AllowedHosts: []string{"::1"}})
	gotc := make(chan string, 1)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { gotc <- r.Header.Get("Authorization") }),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{upstreamCert(t, "::1")}},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	resp, _ := clientRequest(t, tp, bearerRequest("https://"+ln.Addr().String()+"/v6"), testTenant) //nolint:bodyclose // the helper read and closed the body
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := <-gotc; got != "Bearer "+simpleValue {
		t.Fatalf("upstream Authorization %s", fp([]byte(got)))
	}
}

// TestClientConnLimit fills --max-conns with keep-alive client connections
// and checks that one more is refused with the JSON error, and that a slot
// freed by a client that left serves a new connection.
func TestClientConnLimit(t *testing.T) {
	tp := startProxy(t, func(c *Config) { c.MaxConns = 2 })
	up := newUpstream(t, false)
	raw := "GET http://" + upstreamHost + ":" + up.port() + "/x HTTP/1.1\r\nHost: " + upstreamHost + ":" + up.port() +
		"\r\nProxy-Authorization: " + tp.authHeader(testTenant) + "\r\n\r\n"
	// open connects and makes one request, answering its response.
	open := func() (net.Conn, *http.Response, []byte) {
		c, err := net.DialTimeout("tcp", tp.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, raw)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			_ = c.Close()
			return nil, nil, nil
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return c, resp, body
	}
	var kept []net.Conn
	defer func() {
		for _, c := range kept {
			_ = c.Close()
		}
	}()
	for i := range 2 {
		c, resp, _ := open() //nolint:bodyclose // open closed the body
		if c == nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d was not served", i)
		}
		kept = append(kept, c)
	}
	c, resp, body := open() //nolint:bodyclose // open closed the body
	if c == nil {
		t.Fatal("the connection over the limit got no response")
	}
	_ = c.Close()
	wantError(t, resp, body, CodeTooManyConnections)
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("refusal Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if got := up.count(); got != 2 {
		t.Fatalf("upstream saw %d requests, want 2", got)
	}

	// Free a slot: the proxy notices the close, then serves a newcomer.
	_ = kept[0].Close()
	kept = kept[1:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, resp, _ := open() //nolint:bodyclose // open closed the body
		if c != nil {
			kept = append(kept, c)
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("a freed slot was never reused")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
