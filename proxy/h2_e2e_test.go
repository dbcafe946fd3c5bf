package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/sidekey/sidekey/internal/secret"
)

const (
	apnsHost   = "push.upstream.test"
	legacyHost = "legacy.upstream.test"
	// apnsValue is the provider token the senders inject.
	apnsValue   = "eyJhbGciOiJFUzI1NiJ9.h2-provider-token.Zk3qW9"
	deviceToken = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	apnsPayload = `{"aps":{"alert":"hello"}}`
)

// echoAuth answers like APNs (200, apns-id) and echoes the authorization it
// received in a header and the body, so that the sender's view shows the
// scrubbing.
func echoAuth(w http.ResponseWriter, r *http.Request, _ []byte) {
	auth := r.Header.Get("Authorization")
	w.Header().Set("Apns-Id", "eabeae54-14a8-11e5-b60b-1697f925ec7b")
	w.Header().Set("X-Echo-Auth", auth)
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"seen":%q,"proto":%q}`, auth, r.Proto)
}

// apnsRequest is the APNs-like POST to url: the provider token placeholder
// in Authorization, the payload as the body.
func apnsRequest(url string) *http.Request {
	req := mustReq("POST", url, []byte(apnsPayload), "application/json")
	req.Header.Set("Authorization", "bearer {{secrets.apns_token}}")
	req.Header.Set("Apns-Topic", "com.example.app")
	return req
}

// h2Sender sends the APNs-like request through the proxy and returns the
// status, the response header and body it saw, and the protocol it used
// with the proxy.
type h2Sender struct {
	name string
	send func(t *testing.T, tp *testProxy, caFile, url string) (status int, header http.Header, body []byte, proto string)
}

func h2Senders() []h2Sender {
	return []h2Sender{
		{"go-http2-transport", func(t *testing.T, tp *testProxy, _, url string) (int, http.Header, []byte, string) {
			t.Helper()
			c, tr := tp.h2Client(testTenant)
			defer tr.CloseIdleConnections()
			resp, b := doRead(t, c, apnsRequest(url)) //nolint:bodyclose // the helper read and closed the body
			return resp.StatusCode, resp.Header, b, resp.Proto
		}},
		{"curl-http2", func(t *testing.T, tp *testProxy, caFile, url string) (int, http.Header, []byte, string) {
			t.Helper()
			return curlSend(t, tp, caFile, url, "--http2")
		}},
		{"node-http2-connect", func(t *testing.T, tp *testProxy, caFile, url string) (int, http.Header, []byte, string) {
			t.Helper()
			return nodeSend(t, tp, caFile, url)
		}},
	}
}

// curlSend runs curl through the proxy with the given protocol flag and
// parses its -i output.
func curlSend(t *testing.T, tp *testProxy, caFile, url, protoFlag string) (int, http.Header, []byte, string) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required (make deps installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "-sS", "-i", "--globoff", protoFlag,
		"--proxy", "http://"+tp.addr, "--proxy-user", tp.userPass(testTenant), "--cacert", caFile,
		"-H", "authorization: bearer {{secrets.apns_token}}", "-H", "apns-topic: com.example.app",
		"-H", "content-type: application/json", "--data-binary", apnsPayload, url).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	// -i prints the CONNECT answer first, then the response.
	for {
		head, rest, ok := bytes.Cut(out, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("curl output has no response head: %q", out)
		}
		if bytes.HasPrefix(head, []byte("HTTP/1.1 200 Connection established")) {
			out = rest
			continue
		}
		lines := strings.Split(string(head), "\r\n")
		proto, code, _ := strings.Cut(lines[0], " ")
		code, _, _ = strings.Cut(code, " ")
		h := http.Header{}
		for _, l := range lines[1:] {
			if k, v, ok := strings.Cut(l, ":"); ok {
				h.Add(k, strings.TrimSpace(v))
			}
		}
		status := 0
		_, _ = fmt.Sscan(code, &status)
		return status, h, rest, proto
	}
}

// nodeScript sends one request with Node's http2.connect over a CONNECT
// tunnel opened with the http module: the pattern of Node APNs clients
// behind a proxy.
const nodeScript = `
const http = require('http'), http2 = require('http2'), tls = require('tls'), fs = require('fs');
const [proxy, auth, target, caFile, path, token, body] = process.argv.slice(1); // node -e: no script path in argv
const [phost, pport] = proxy.split(':');
const req = http.request({host: phost, port: +pport, method: 'CONNECT', path: target,
  headers: {'proxy-authorization': 'Basic ' + Buffer.from(auth).toString('base64')}});
req.on('connect', (res, socket) => {
  if (res.statusCode !== 200) { console.error('CONNECT ' + res.statusCode); process.exit(2); }
  const host = target.split(':')[0];
  const client = http2.connect('https://' + target, {createConnection: () =>
    tls.connect({socket, servername: host, ALPNProtocols: ['h2'], ca: fs.readFileSync(caFile)})});
  client.on('error', (e) => { console.error(e.message); process.exit(3); });
  const s = client.request({':method': 'POST', ':path': path, 'authorization': 'bearer ' + token,
    'apns-topic': 'com.example.app', 'content-type': 'application/json'});
  let out = '', headers = {};
  s.on('response', (h) => { headers = h; });
  s.setEncoding('utf8');
  s.on('data', (d) => { out += d; });
  s.on('end', () => {
    process.stdout.write(JSON.stringify({headers, body: out, alpn: client.alpnProtocol}));
    client.close();
  });
  s.end(body);
});
req.on('error', (e) => { console.error(e.message); process.exit(4); });
req.end();
`

func nodeSend(t *testing.T, tp *testProxy, caFile, url string) (int, http.Header, []byte, string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required (make deps installs it)")
	}
	target, path, _ := strings.Cut(strings.TrimPrefix(url, "https://"), "/")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-e", nodeScript, tp.addr, tp.userPass(testTenant), target, caFile,
		"/"+path, "{{secrets.apns_token}}", apnsPayload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v: %s", err, stderr.Bytes())
	}
	var res struct {
		Headers map[string]any `json:"headers"`
		Body    string         `json:"body"`
		ALPN    string         `json:"alpn"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output: %v", err)
	}
	h := http.Header{}
	status := 0
	for k, v := range res.Headers {
		if k == ":status" {
			status = int(v.(float64))
			continue
		}
		h.Set(k, fmt.Sprint(v))
	}
	return status, h, []byte(res.Body), res.ALPN
}

func writeCA(t *testing.T, tp *testProxy) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "sidekey-ca.pem")
	if err := os.WriteFile(f, tp.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// checkScrubbed checks that the sender saw the upstream's echo with the
// placeholder in place of the value.
func checkScrubbed(t *testing.T, status int, h http.Header, body []byte) {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("status %d Sidekey-Error %q: %s", status, h.Get("Sidekey-Error"), body)
	}
	if bytes.Contains(body, []byte(apnsValue)) || strings.Contains(fmt.Sprint(h), apnsValue) {
		t.Fatal("the injected value came back to the sender unscrubbed")
	}
	if got := h.Get("X-Echo-Auth"); got != "bearer {{secrets.apns_token}}" {
		t.Fatalf("echoed authorization header not scrubbed to the placeholder: %s", fp([]byte(got)))
	}
	if !bytes.Contains(body, []byte(`"seen":"bearer {{secrets.apns_token}}"`)) {
		t.Fatalf("the body is not the scrubbed echo: %s", fp(body))
	}
}

// checkH2Wire decodes the last stream the h2-only origin received and
// checks every header field and the DATA: exactly the sender's request
// with the value injected, nothing of the proxy's, and no field in the
// HPACK dynamic table.
func checkH2Wire(t *testing.T, o *origin, path string, extra map[string]bool) {
	t.Helper()
	raws := o.raw()
	if len(raws) == 0 {
		t.Fatal("the h2 origin saw no connection")
	}
	var last *wireStream
	var dec *wireConn
	for _, raw := range raws {
		wc, err := decodeH2(raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(wc.streams) > 0 {
			last, dec = wc.streams[len(wc.streams)-1], wc
		}
	}
	if last == nil {
		t.Fatal("no stream on the wire")
	}
	want := map[string]string{
		":method": "POST", ":scheme": "https", ":authority": o.authority(), ":path": path,
		"authorization": "bearer " + apnsValue, "apns-topic": "com.example.app",
		"content-type": "application/json", "content-length": fmt.Sprint(len(apnsPayload)),
	}
	seen := map[string]int{}
	for _, f := range last.fields {
		seen[f.Name]++
		if w, ok := want[f.Name]; ok {
			if f.Value != w {
				t.Errorf("field %s: got %s, want %s", f.Name, fp([]byte(f.Value)), fp([]byte(w)))
			}
			continue
		}
		if !extra[f.Name] {
			t.Errorf("unexpected field %q reached the upstream", f.Name)
		}
	}
	for name := range want {
		if seen[name] != 1 {
			t.Errorf("field %s arrived %d times, want once", name, seen[name])
		}
	}
	if string(last.data) != apnsPayload {
		t.Errorf("DATA: got %s, want the payload", fp(last.data))
	}
	for _, f := range dynamicTable(dec.dec) {
		if strings.Contains(f.Value, apnsValue) {
			t.Fatal("the injected value entered the upstream connection's HPACK dynamic table")
		}
	}
}

// checkH1Wire checks the exact bytes the HTTP/1.1-only origin received for
// the last request.
func checkH1Wire(t *testing.T, o *origin, path string) {
	t.Helper()
	raws := o.raw()
	all := bytes.Join(raws, nil)
	i := bytes.LastIndex(all, []byte("POST "))
	if i < 0 {
		t.Fatal("the h1 origin received no POST")
	}
	msg := all[i:]
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no end of the request head")
	}
	lines := strings.Split(string(head), "\r\n")
	if lines[0] != "POST "+path+" HTTP/1.1" {
		t.Errorf("request line %q", lines[0])
	}
	want := map[string]string{
		"host": o.authority(), "authorization": "bearer " + apnsValue, "apns-topic": "com.example.app",
		"content-type": "application/json", "content-length": fmt.Sprint(len(apnsPayload)),
	}
	seen := map[string]int{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ": ")
		name := strings.ToLower(k)
		seen[name]++
		if w, ok := want[name]; ok && v != w {
			t.Errorf("header %s: got %s, want %s", name, fp([]byte(v)), fp([]byte(w)))
		}
		if !ok && name != "user-agent" && name != "accept" && name != "accept-encoding" {
			t.Errorf("unexpected header %q reached the upstream", k)
		}
	}
	for name := range want {
		if seen[name] != 1 {
			t.Errorf("header %s arrived %d times, want once", name, seen[name])
		}
	}
	if string(body) != apnsPayload {
		t.Errorf("body: got %s, want the payload", fp(body))
	}
}

// TestH2Senders: a Go http2.Transport sender through CONNECT (the APNs
// client's pattern), curl --http2 and Node's http2.connect over a CONNECT
// tunnel each reach an upstream that accepts only h2 and one that accepts
// only HTTP/1.1, with a provider token from a real Vault injected; the
// upstream checks the bytes it received; the response is scrubbed. An
// HTTP/1.1 curl sender reaches the h2-only upstream too.
func TestH2Senders(t *testing.T) {
	v := startVault(t)
	v.create(t, testTenant, "apns_token", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: apnsValue}})
	tp := startVaultProxy(t, v, nil)
	caFile := writeCA(t, tp)
	h2o, h1o := newH2Origin(t, apnsHost), newH1Origin(t, legacyHost)
	h2o.answer, h1o.answer = echoAuth, echoAuth
	path := "/3/device/" + deviceToken
	extra := map[string]bool{"user-agent": true, "accept": true, "accept-encoding": true}

	for _, s := range h2Senders() {
		t.Run(s.name+"/h2-only upstream", func(t *testing.T) {
			before := h2o.count()
			status, h, body, proto := s.send(t, tp, caFile, h2o.url(path))
			checkScrubbed(t, status, h, body)
			if proto != "HTTP/2.0" && proto != "HTTP/2" && proto != "h2" {
				t.Fatalf("the sender spoke %q with the proxy, want HTTP/2", proto)
			}
			if n := h2o.count() - before; n != 1 {
				t.Fatalf("the upstream got %d requests, want 1", n)
			}
			checkH2Wire(t, h2o, path, extra)
			if !bytes.Contains(body, []byte(`"proto":"HTTP/2.0"`)) {
				t.Fatalf("the upstream was not reached over HTTP/2: %s", body)
			}
		})
		t.Run(s.name+"/HTTP1.1-only upstream", func(t *testing.T) {
			before := h1o.count()
			status, h, body, _ := s.send(t, tp, caFile, h1o.url(path))
			checkScrubbed(t, status, h, body)
			if n := h1o.count() - before; n != 1 {
				t.Fatalf("the upstream got %d requests, want 1", n)
			}
			checkH1Wire(t, h1o, path)
		})
	}
	t.Run("curl-http1.1/h2-only upstream", func(t *testing.T) {
		before := h2o.count()
		status, h, body, proto := curlSend(t, tp, caFile, h2o.url(path), "--http1.1")
		checkScrubbed(t, status, h, body)
		if proto != "HTTP/1.1" {
			t.Fatalf("curl spoke %q with the proxy", proto)
		}
		if n := h2o.count() - before; n != 1 {
			t.Fatalf("the upstream got %d requests, want 1", n)
		}
		checkH2Wire(t, h2o, path, extra)
	})
	t.Run("absolute-form https, HTTP/1.1/h2-only upstream", func(t *testing.T) {
		before := h2o.count()
		resp, body := absoluteRequest(t, tp, apnsRequest(h2o.url(path)), &testTenant)
		checkScrubbed(t, resp.StatusCode, resp.Header, body)
		if n := h2o.count() - before; n != 1 {
			t.Fatalf("the upstream got %d requests, want 1", n)
		}
		checkH2Wire(t, h2o, path, extra)
	})
	if n := h2o.rejections(); n != 0 {
		t.Fatalf("the h2-only upstream refused %d connections that did not choose h2", n)
	}
}

// TestUpstreamHTTP2Off: with UpstreamHTTP2Off no upstream is offered h2:
// the HTTP/1.1-only upstream is reached, the h2-only one refuses the
// connection and the sender sees its answer.
func TestUpstreamHTTP2Off(t *testing.T) {
	tp := startProxy(t, func(c *Config) { c.UpstreamHTTP2 = UpstreamHTTP2Off })
	tp.resolver.put(testTenant, "apns_token", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: apnsValue}})
	h2o, h1o := newH2Origin(t, apnsHost), newH1Origin(t, legacyHost)
	h1o.answer = echoAuth
	c, tr := tp.h2Client(testTenant)
	defer tr.CloseIdleConnections()
	resp, body := doRead(t, c, apnsRequest(h1o.url("/3/device/x"))) //nolint:bodyclose // the helper read and closed the body
	checkScrubbed(t, resp.StatusCode, resp.Header, body)
	resp, _ = doRead(t, c, apnsRequest(h2o.url("/3/device/x"))) //nolint:bodyclose // the helper read and closed the body
	if resp.StatusCode == http.StatusOK || h2o.count() != 0 || h2o.rejections() == 0 {
		t.Fatalf("with HTTP/2 off the h2-only upstream answered %d, served %d, refused %d connections", resp.StatusCode, h2o.count(), h2o.rejections())
	}
}

// TestH2ConcurrentStreams: 100 streams at once on one client connection,
// each injecting a different secret of the tenant, each reaching the
// upstream with exactly its own value and getting its own scrubbed echo.
func TestH2ConcurrentStreams(t *testing.T) {
	const n = 100
	v := startVault(t)
	values := make([]string, n)
	for i := range n {
		values[i] = fmt.Sprintf("stream-secret-%03d-%s", i, strings.Repeat(string(rune('a'+i%26)), 12))
		v.create(t, testTenant, fmt.Sprintf("s%03d", i), secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: values[i]}})
	}
	tp := startVaultProxy(t, v, nil)
	for _, up := range []struct {
		name string
		o    *origin
	}{{"h2-only upstream", newH2Origin(t, apnsHost)}, {"HTTP1.1-only upstream", newH1Origin(t, legacyHost)}} {
		t.Run(up.name, func(t *testing.T) {
			o := up.o
			o.answer = func(w http.ResponseWriter, r *http.Request, body []byte) {
				w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
				_, _ = w.Write(body)
			}
			var dials atomic.Int32
			_, tr := tp.h2Client(testTenant)
			dial := tr.DialTLSContext
			tr.DialTLSContext = func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
				dials.Add(1)
				return dial(ctx, network, addr, cfg)
			}
			defer tr.CloseIdleConnections()
			// One connection first, so that every stream shares it.
			warm := mustReq("GET", o.url("/warm"), nil, "")
			resp, err := tr.RoundTrip(warm)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make(chan string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					alias := fmt.Sprintf("s%03d", i)
					req := mustReq("POST", o.url(fmt.Sprintf("/3/device/%03d", i)), []byte(`{"n":`+fmt.Sprint(i)+`,"v":"{{secrets.`+alias+`}}"}`), "application/json")
					req.Header.Set("Authorization", "bearer {{secrets."+alias+"}}")
					resp, err := tr.RoundTrip(req)
					if err != nil {
						errs <- fmt.Sprintf("stream %d: %v", i, err)
						return
					}
					defer func() { _ = resp.Body.Close() }()
					body, _ := io.ReadAll(resp.Body)
					wantBody := `{"n":` + fmt.Sprint(i) + `,"v":"{{secrets.` + alias + `}}"}`
					if resp.StatusCode != 200 || string(body) != wantBody || resp.Header.Get("X-Echo-Auth") != "bearer {{secrets."+alias+"}}" {
						errs <- fmt.Sprintf("stream %d: status %d, answer not its own scrubbed echo (%s)", i, resp.StatusCode, fp(body))
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			if d := dials.Load(); d != 1 {
				t.Fatalf("the sender opened %d connections, want 1", d)
			}
			got := 0
			for _, r := range o.requests() {
				if !strings.HasPrefix(r.URI, "/3/device/") {
					continue
				}
				got++
				var i int
				if _, err := fmt.Sscanf(r.URI, "/3/device/%03d", &i); err != nil || i < 0 || i >= n {
					t.Fatalf("unexpected path %q", r.URI)
				}
				if r.Header.Get("Authorization") != "bearer "+values[i] {
					t.Errorf("stream %d: the upstream got another stream's value or none", i)
				}
				if string(r.Body) != `{"n":`+fmt.Sprint(i)+`,"v":"`+values[i]+`"}` {
					t.Errorf("stream %d: the upstream body carries another stream's value or none", i)
				}
			}
			if got != n {
				t.Fatalf("the upstream got %d requests, want %d", got, n)
			}
		})
	}
}

// TestH2InjectionMatrix runs the HTTP/1.1 injection matrix (every location,
// encoding, gzip, strict nonce) with an h2 sender, to an HTTP/1.1-only
// upstream and to an h2-only one.
func TestH2InjectionMatrix(t *testing.T) {
	tp := startProxy(t, nil)
	for alias, s := range matrixSecrets() {
		tp.resolver.put(testTenant, alias, s)
	}
	c, tr := tp.h2Client(testTenant)
	defer tr.CloseIdleConnections()
	h1 := newUpstreamFor(t, true, upstreamHost)
	h2 := newH2OnlyUpstream(t)
	for _, up := range []struct {
		name string
		u    *upstream
	}{{"HTTP1.1-only upstream", h1}, {"h2-only upstream", h2}} {
		up.u.answer = echoAnswer
		for _, mc := range matrixCases(t) {
			t.Run(up.name+"/"+mc.name, func(t *testing.T) {
				before := up.u.count()
				resp, body := doRead(t, c, mc.build(strings.TrimSuffix(up.u.url(""), "/"))) //nolint:bodyclose // the helper read and closed the body
				if resp.ProtoMajor != 2 {
					t.Fatalf("the sender spoke %s", resp.Proto)
				}
				mc.checkAnswer(t, up.u, before, resp, body)
			})
		}
	}
}

// newH2OnlyUpstream starts the recording upstream of the HTTP/1.1 tests
// speaking only h2 (httptest offers only "h2" in ALPN with EnableHTTP2).
func newH2OnlyUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, answer := u.record(r)
		if r.ProtoMajor != 2 {
			w.WriteHeader(http.StatusHTTPVersionNotSupported)
			return
		}
		if answer != nil {
			answer(w, r, body)
			return
		}
		_, _ = w.Write([]byte("upstream ok"))
	}))
	u.srv.EnableHTTP2 = true
	u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{upstreamCert(t, upstreamHost)}}
	u.srv.StartTLS()
	if !slices.Equal(u.srv.TLS.NextProtos, []string{http2.NextProtoTLS}) {
		t.Fatalf("the h2 upstream offers %v", u.srv.TLS.NextProtos)
	}
	t.Cleanup(u.srv.Close)
	return u
}
