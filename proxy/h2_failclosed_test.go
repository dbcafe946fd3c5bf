package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sidekey/sidekey/internal/secret"
)

// TestH2FailClosed: on one h2 connection, each refused stream gets its
// answer on that stream (the SPEC's code, Sidekey-Error and JSON body when
// the proxy refuses it; the library's answer when HTTP/2 itself forbids
// the request), the connection goes on, and the upstream receives only the
// one good request.
func TestH2FailClosed(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	tp := startProxyWithLogger(t, zap.New(core), func(c *Config) { c.MaxBodyBytes = 1 << 10 })
	failSecrets(tp)
	tp.resolver.put(testTenant, "nul", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "abc\x00def-nul-value"}})
	o := newH2Origin(t, apnsHost)
	o.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) { _, _ = io.WriteString(w, "ok") }
	r := newRawH2(t, tp, testTenant, o.authority())
	base := func(extra ...hpack.HeaderField) []hpack.HeaderField {
		return append([]hpack.HeaderField{hf(":method", "POST"), hf(":scheme", "https"), hf(":authority", o.authority()), hf(":path", "/3/device/x")}, extra...)
	}
	type h2Case struct {
		name   string
		fields []hpack.HeaderField
		body   []byte
		code   Code   // a proxy refusal
		status string // a library refusal: the status, or "" for RST_STREAM
	}
	cases := []h2Case{
		{name: "unknown alias", fields: base(hf("authorization", "bearer {{secrets.nope}}")), code: CodeSecretNotFound},
		{name: "another tenant's alias", fields: base(hf("authorization", "bearer {{secrets.support_only}}")), code: CodeSecretNotFound},
		{name: "host not in allowed_hosts", fields: base(hf("content-type", "application/json")), body: []byte(`{"k":"{{secrets.elsewhere}}"}`), code: CodeHostNotAllowed},
		{name: "CR/LF in an injected header value", fields: base(hf("x-key", "{{secrets.crlf}}")), code: CodeUnsafeHeaderValue},
		{name: "NUL in an injected header value", fields: base(hf("x-key", "{{secrets.nul}}")), code: CodeUnsafeHeaderValue},
		{name: "oversize body", fields: base(hf("content-type", "text/plain")), body: bytes.Repeat([]byte("a"), 2<<10), code: CodeBodyTooLarge},
		{name: ":authority is not the CONNECT target", fields: []hpack.HeaderField{hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", "other.upstream.test:"+o.port()), hf(":path", "/x")}, code: CodeHostNotAllowed},
		{name: "host field differs from :authority", fields: base(hf("host", "other.upstream.test"), hf("x-key", "{{secrets.weather_fx}}")), status: ""},
		{name: "placeholder in :authority", fields: []hpack.HeaderField{hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", "{{secrets.weather_fx}}.upstream.test"), hf(":path", "/x")}, status: ""},
		{name: "malformed placeholder", fields: base(hf("content-type", "text/plain")), body: []byte(`{{secrets.weather_fx | rot13}}`), code: CodeInvalidPlaceholder},
		{name: "uppercase header field name", fields: base(hf("X-Upper", "{{secrets.weather_fx}}")), status: ""},
		{name: "connection-specific field", fields: base(hf("connection", "keep-alive"), hf("x-key", "{{secrets.weather_fx}}")), status: "400"},
		{name: "transfer-encoding field", fields: base(hf("transfer-encoding", "chunked"), hf("x-key", "{{secrets.weather_fx}}")), status: "400"},
	}
	// The proxy's SETTINGS (and its larger windows) first.
	r.waitSettings(t)
	ids := make([]uint32, 0, len(cases)+1)
	for i, c := range cases {
		id := uint32(2*i + 1)
		ids = append(ids, id)
		if err := r.request(id, c.fields, c.body); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	good := uint32(2*len(cases) + 1)
	if err := r.request(good, base(hf("authorization", "bearer {{secrets.weather_fx}}")), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	answers, goAway, err := r.readUntil(append(ids, good)...)
	if err != nil {
		t.Fatal(err)
	}
	if goAway != nil {
		t.Fatalf("the connection ended (GOAWAY %v): one stream's refusal must not end the others", goAway.ErrCode)
	}
	for i, c := range cases {
		a := answers[ids[i]]
		t.Run(c.name, func(t *testing.T) {
			switch {
			case c.code != "":
				if a.status != fmt.Sprint(c.code.Status()) || a.header["sidekey-error"] != string(c.code) {
					t.Fatalf("got %s Sidekey-Error=%q (reset %v), want %d %s", a.status, a.header["sidekey-error"], a.wasRST, c.code.Status(), c.code)
				}
				if !bytes.Contains(a.body, []byte(`"code":"`+string(c.code)+`"`)) || a.header["content-type"] != "application/json" {
					t.Fatalf("the body is not the JSON error: %s", a.body)
				}
			case c.status == "":
				if !a.wasRST || a.reset != http2.ErrCodeProtocol {
					t.Fatalf("got status %q reset=%v %v, want RST_STREAM PROTOCOL_ERROR", a.status, a.wasRST, a.reset)
				}
			default:
				if a.status != c.status {
					t.Fatalf("got status %q (reset %v), want %s", a.status, a.wasRST, c.status)
				}
			}
			for _, v := range []string{simpleValue, "support-secret-value", "elsewhere-value-123", "nul-value", "X-Injected"} {
				if bytes.Contains(a.body, []byte(v)) || strings.Contains(fmt.Sprint(a.header), v) {
					t.Fatalf("the answer reveals a value (%s)", fp([]byte(v)))
				}
			}
		})
	}
	if a := answers[good]; a.status != "200" || string(a.body) != "ok" {
		t.Fatalf("the good stream after the refusals: %s %q", a.status, a.body)
	}
	reqs := o.requests()
	if len(reqs) != 1 {
		t.Fatalf("the upstream received %d requests, want only the good one", len(reqs))
	}
	if reqs[0].Header.Get("Authorization") != "bearer "+simpleValue {
		t.Fatal("the good request did not arrive injected")
	}
	// Each stream is counted and logged like an HTTP/1.1 request in a
	// tunnel, and no log line holds a value.
	for sample, want := range map[string]float64{
		`sidekey_proxy_requests_total{code="ok",mode="intercepted"}`:                  1,
		`sidekey_proxy_requests_total{code="secret_not_found",mode="intercepted"}`:    2,
		`sidekey_proxy_requests_total{code="unsafe_header_value",mode="intercepted"}`: 2,
		`sidekey_proxy_requests_total{code="body_too_large",mode="intercepted"}`:      1,
		`sidekey_proxy_injections_total{location="header"}`:                           1,
	} {
		if got := metricValue(t, tp, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	refused := 0
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		for _, v := range []string{simpleValue, "support-secret-value", "elsewhere-value-123", "nul-value", "X-Injected"} {
			if strings.Contains(line, v) {
				t.Fatalf("a log line holds a value (%s)", fp([]byte(v)))
			}
		}
		if e.Message == "request refused" && e.ContextMap()["mode"] == "intercepted" {
			refused++
		}
	}
	if refused < 8 {
		t.Fatalf("%d streams logged as refused, want one line per refusal", refused)
	}
}

// gatedResolver blocks every resolution until released, as a store that
// stopped answering does.
type gatedResolver struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (g *gatedResolver) Resolve(_ context.Context, _ secret.Tenant, _ string) (secret.Secret, error) {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	<-g.release
	return secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "gated-value-0123"}}, nil
}

// TestH2RapidReset: streams opened and reset at once while their handlers
// are still busy (CVE-2023-44487) are queued only up to four times the
// stream limit; past that the connection ends with ENHANCE_YOUR_CALM and
// the metric counts it. Nothing reaches the upstream.
func TestH2RapidReset(t *testing.T) {
	const maxStreams = 4
	g := &gatedResolver{release: make(chan struct{})}
	tp := startProxy(t, func(c *Config) { c.Resolver = g; c.H2MaxConcurrentStreams = maxStreams })
	var once sync.Once
	release := func() { once.Do(func() { close(g.release) }) }
	t.Cleanup(release)
	o := newH2Origin(t, apnsHost)
	r := newRawH2(t, tp, testTenant, o.authority())
	r.waitSettings(t)
	fields := []hpack.HeaderField{hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", o.authority()), hf(":path", "/x"), hf("authorization", "bearer {{secrets.slow}}")}
	// Far more than the library tolerates; the write loop stops when the
	// proxy closes the connection.
	const attempts = maxStreams * 50
	werr := make(chan error, 1)
	go func() {
		for i := range attempts {
			id := uint32(2*i + 1)
			if err := r.request(id, fields, nil); err != nil {
				werr <- err
				return
			}
			if err := r.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	_, goAway, err := r.readUntil(1 << 30) // a stream never opened: read until GOAWAY
	if goAway == nil {
		t.Fatalf("no GOAWAY (read error %v)", err)
	}
	if goAway.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", goAway.ErrCode)
	}
	release()
	if err := <-werr; err != nil {
		t.Logf("the writer stopped: %v (the proxy closed the connection)", err)
	}
	if n := o.count(); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	if got := metricValue(t, tp, `sidekey_proxy_h2_errors_total{side="client",type="conn_ENHANCE_YOUR_CALM_too_many_early_resets"}`); got < 1 {
		t.Fatalf("too_many_early_resets counted %v times", got)
	}
}

// TestH2ContinuationFlood: a HEADERS frame followed by CONTINUATION frames
// that never end the header block (CVE-2023-45288) ends the connection once
// the header list passes the limit, instead of being read forever.
func TestH2ContinuationFlood(t *testing.T) {
	tp := startProxy(t, func(c *Config) { c.MaxHeaderBytes = 16 << 10 })
	o := newH2Origin(t, apnsHost)
	r := newRawH2(t, tp, testTenant, o.authority())
	r.waitSettings(t)
	first := r.block(hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", o.authority()), hf(":path", "/x"))
	const frames = 4000 // 4,000 × 1 KiB: far past any header limit and socket buffer
	werr := make(chan int, 1)
	go func() {
		if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first}); err != nil {
			werr <- 0
			return
		}
		enc := hpack.NewEncoder(&r.hb)
		for i := range frames {
			r.hb.Reset()
			_ = enc.WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("f", 1000), Sensitive: true})
			if err := r.fr.WriteContinuation(1, false, r.hb.Bytes()); err != nil {
				werr <- i
				return
			}
		}
		werr <- frames
	}()
	_, goAway, err := r.readUntil(1)
	if goAway == nil {
		t.Fatalf("no GOAWAY (read error %v)", err)
	}
	if goAway.ErrCode != http2.ErrCodeProtocol {
		t.Fatalf("GOAWAY %v, want PROTOCOL_ERROR", goAway.ErrCode)
	}
	_ = r.c.Close()
	if sent := <-werr; sent == frames {
		t.Fatal("the proxy read every CONTINUATION frame")
	}
	if n := o.count(); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
}

// TestH2Limits: the proxy announces its stream limit and frame size,
// answers an oversize header list with 431 on that stream only, and closes
// an idle connection with GOAWAY.
func TestH2Limits(t *testing.T) {
	tp := startProxy(t, func(c *Config) {
		c.H2MaxConcurrentStreams = 7
		c.MaxHeaderBytes = 4 << 10
		c.IdleTimeout = 500 * time.Millisecond
	})
	o := newH2Origin(t, apnsHost)
	o.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) { _, _ = io.WriteString(w, "ok") }
	r := newRawH2(t, tp, testTenant, o.authority())
	var settings = map[http2.SettingID]uint32{}
	for len(settings) == 0 {
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			_ = sf.ForeachSetting(func(s http2.Setting) error { settings[s.ID] = s.Val; return nil })
			_ = r.fr.WriteSettingsAck()
		}
	}
	if settings[http2.SettingMaxConcurrentStreams] != 7 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS %d, want 7", settings[http2.SettingMaxConcurrentStreams])
	}
	if settings[http2.SettingMaxFrameSize] != h2MaxReadFrameSize {
		t.Fatalf("SETTINGS_MAX_FRAME_SIZE %d", settings[http2.SettingMaxFrameSize])
	}
	fields := []hpack.HeaderField{hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", o.authority()), hf(":path", "/x")}
	// Ten fields of 600 bytes: each under the limit, the list over it.
	big := append([]hpack.HeaderField(nil), fields...)
	for i := range 10 {
		big = append(big, hpack.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: strings.Repeat("b", 600), Sensitive: true})
	}
	if err := r.request(1, big, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.request(3, fields, nil); err != nil {
		t.Fatal(err)
	}
	answers, goAway, err := r.readUntil(1, 3)
	if err != nil || goAway != nil {
		t.Fatalf("read: %v, GOAWAY %v", err, goAway)
	}
	if answers[1].status != "431" {
		t.Fatalf("oversize header list: status %q (reset %v), want 431", answers[1].status, answers[1].wasRST)
	}
	if answers[3].status != "200" {
		t.Fatalf("the next stream: status %q", answers[3].status)
	}
	_, goAway, err = r.readUntil(1 << 30)
	if goAway == nil {
		t.Fatalf("an idle connection was not closed with GOAWAY (read error %v)", err)
	}
	if n := o.count(); n != 1 {
		t.Fatalf("the upstream received %d requests, want 1", n)
	}
}

// TestH2Drain: on shutdown an h2 client gets a GOAWAY, its stream in
// flight still completes, and the drain ends when the connection closes.
func TestH2Drain(t *testing.T) {
	o := newH2Origin(t, apnsHost)
	release := make(chan struct{})
	o.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		<-release
		_, _ = io.WriteString(w, "late")
	}
	cfg := Config{
		Resolver: newFakeResolver(), Keys: testKeys, CA: testCA(t), UpstreamRoots: upstreamRoots(t),
		AllowUpstreamCIDRs: loopbackCIDRs, LookupNetIP: loopbackLookup, DrainTimeout: 20 * time.Second,
	}
	tp := serveProxy(t, cfg, zap.NewNop())
	r := newRawH2(t, tp, testTenant, o.authority())
	r.waitSettings(t)
	fields := []hpack.HeaderField{hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", o.authority()), hf(":path", "/slow")}
	if err := r.request(1, fields, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); o.count() == 0; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the stream never reached the upstream")
		}
	}
	tp.stop()
	_, goAway, err := r.readUntil(1 << 30)
	if goAway == nil {
		t.Fatalf("no GOAWAY on drain (read error %v)", err)
	}
	if goAway.ErrCode != http2.ErrCodeNo || goAway.LastStreamID != 1 {
		t.Fatalf("GOAWAY %v last stream %d, want NO_ERROR and 1", goAway.ErrCode, goAway.LastStreamID)
	}
	close(release)
	answers, _, err := r.readUntil(1)
	if err != nil {
		t.Fatal(err)
	}
	if a := answers[1]; a.status != "200" || string(a.body) != "late" {
		t.Fatalf("the stream in flight: %s %q", a.status, a.body)
	}
	_ = r.c.Close()
	if err := tp.served(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
