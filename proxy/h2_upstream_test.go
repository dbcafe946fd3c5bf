package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sidekey/sidekey/internal/testbin"
)

func testH2Upstream(t *testing.T) *h2Upstream {
	t.Helper()
	cfg := Config{UpstreamRoots: upstreamRoots(t), AllowUpstreamCIDRs: loopbackCIDRs, LookupNetIP: loopbackLookup}
	cfg.setDefaults()
	u := newH2Upstream(&cfg, newGuard(cfg.AllowUpstreamCIDRs, cfg.LookupNetIP), tls.NewLRUClientSessionCache(8), nil)
	t.Cleanup(u.closeIdle)
	return u
}

func h2Do(t *testing.T, u *h2Upstream, method, authority, pq string, header http.Header, body string) (*http.Response, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if header == nil {
		header = http.Header{}
	}
	resp, err := u.roundTrip(newH2Request(ctx, method, authority, []byte(pq), header, []byte(body)))
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// TestH2UpstreamALPN: an h2-only upstream is reached over one multiplexed
// connection; an HTTP/1.1-only upstream is detected in ALPN, remembered,
// and sent nothing.
func TestH2UpstreamALPN(t *testing.T) {
	u := testH2Upstream(t)
	h2o := newH2Origin(t, "push.upstream.test")
	h1o := newH1Origin(t, "legacy.upstream.test")

	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := http.Header{"Authorization": {"bearer tok-" + itoa(i)}}
			resp, _, err := h2Do(t, u, "POST", h2o.authority(), "/3/device/d"+itoa(i), h, `{"aps":{}}`)
			if err != nil {
				errs <- err
				return
			}
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				errs <- errors.New("got " + resp.Status + " " + resp.Proto)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := h2o.count(); got != n {
		t.Fatalf("the h2 origin got %d requests, want %d", got, n)
	}
	if conns, rej := len(h2o.raw()), h2o.rejections(); conns != 1 || rej != 0 {
		t.Fatalf("the h2 origin saw %d connections (%d rejected), want 1 multiplexed", conns, rej)
	}

	addr := net.JoinHostPort("legacy.upstream.test", h1o.port())
	if !u.wantsH2(addr) {
		t.Fatal("an unknown upstream should be offered h2")
	}
	_, _, err := h2Do(t, u, "GET", h1o.authority(), "/", nil, "")
	if !errors.Is(err, errUpstreamHTTP1) {
		t.Fatalf("HTTP/1.1-only upstream: got %v, want errUpstreamHTTP1", err)
	}
	if u.wantsH2(addr) {
		t.Fatal("an upstream that chose HTTP/1.1 should be remembered")
	}
	if h1o.count() != 0 {
		t.Fatal("the HTTP/1.1 origin received a request over the h2 client")
	}
}

// TestH2UpstreamWire: the request on the wire carries the path exactly as
// given, no User-Agent or Accept-Encoding of the transport's own, and the
// body.
func TestH2UpstreamWire(t *testing.T) {
	u := testH2Upstream(t)
	o := newH2Origin(t, "push.upstream.test")
	o.answer = func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) }
	const pq = "//a/%7Bx%7D/./b?q=%20&r"
	h := http.Header{"X-Custom": {"one", "two"}}
	resp, _, err := h2Do(t, u, "PUT", o.authority(), pq, h, "payload")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wc := decodeOnly(t, o)
	s := wc.streams[0]
	want := map[string][]string{
		":method": {"PUT"}, ":path": {pq}, ":scheme": {"https"}, ":authority": {o.authority()},
		"x-custom": {"one", "two"}, "content-length": {"7"},
	}
	for name, vs := range want {
		if got := s.header(name); strings.Join(got, "\n") != strings.Join(vs, "\n") {
			t.Errorf("%s: got %q, want %q", name, got, vs)
		}
	}
	if len(s.fields) != 7 {
		t.Errorf("got fields %v, want exactly %v", s.fields, want)
	}
	if string(s.data) != "payload" {
		t.Errorf("body %q", s.data)
	}
}

func decodeOnly(t *testing.T, o *origin) *wireConn {
	t.Helper()
	raws := o.raw()
	if len(raws) != 1 {
		t.Fatalf("%d connections, want 1", len(raws))
	}
	wc, err := decodeH2(raws[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(wc.streams) == 0 {
		t.Fatal("no stream on the wire")
	}
	return wc
}

// TestH2UpstreamHPACKTable: header fields sent upstream never enter the
// connection's HPACK dynamic table, so a value injected into one request
// is neither indexed nor referenced by any later one. The same probe on a
// default x/net Transport finds the value in the table, which shows that
// the probe sees what it looks for.
func TestH2UpstreamHPACKTable(t *testing.T) {
	const value = "bearer hpack-secret-value-0123456789"
	send := func(t *testing.T, do func(h http.Header) error) *wireConn {
		t.Helper()
		for range 3 {
			if err := do(http.Header{"Authorization": {value}, "X-Plain": {"plain-header-value-abcdef"}}); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}
	t.Run("proxy transport", func(t *testing.T) {
		u := testH2Upstream(t)
		o := newH2Origin(t, "push.upstream.test")
		send(t, func(h http.Header) error {
			_, _, err := h2Do(t, u, "POST", o.authority(), "/3/device/x", h, "{}")
			return err
		})
		wc := decodeOnly(t, o)
		if len(wc.streams) != 3 {
			t.Fatalf("%d streams", len(wc.streams))
		}
		for _, s := range wc.streams {
			if got := s.header("authorization"); len(got) != 1 || got[0] != value {
				t.Fatal("the authorization field did not arrive as sent")
			}
		}
		if tab := dynamicTable(wc.dec); len(tab) != 0 {
			names := make([]string, len(tab))
			for i, f := range tab {
				names[i] = f.Name
			}
			t.Fatalf("the dynamic table holds %d entries (%v), want none", len(tab), names)
		}
	})
	t.Run("default transport indexes", func(t *testing.T) {
		o := newH2Origin(t, "push.upstream.test")
		//nolint:staticcheck // SA1019: the library default is the control case.
		tr := &http2.Transport{
			TLSClientConfig: &tls.Config{RootCAs: upstreamRoots(t), MinVersion: tls.VersionTLS12},
			DialTLSContext: func(ctx context.Context, network, _ string, cfg *tls.Config) (net.Conn, error) {
				var d tls.Dialer
				d.Config = cfg
				return d.DialContext(ctx, network, o.ln.Addr().String())
			},
		}
		defer tr.CloseIdleConnections()
		send(t, func(h http.Header) error {
			req, _ := http.NewRequest("POST", o.url("/3/device/x"), strings.NewReader("{}"))
			req.Header = h
			resp, err := tr.RoundTrip(req)
			if err != nil {
				return err
			}
			return resp.Body.Close()
		})
		wc := decodeOnly(t, o)
		found := false
		for _, f := range dynamicTable(wc.dec) {
			found = found || f.Name == "authorization" && f.Value == value
		}
		if !found {
			t.Fatal("the probe did not find the value a default transport indexes")
		}
	})
}

// frameOrigin is an HTTP/2 upstream written with the Framer, to script
// GOAWAY and connection loss. Each accepted connection runs script with
// the connection's index.
type frameOrigin struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  int
	served int // requests answered 200
	wg     sync.WaitGroup
}

func newFrameOrigin(t *testing.T, host string, script func(i int, fr *http2.Framer, c net.Conn, o *frameOrigin)) *frameOrigin {
	t.Helper()
	ln := testbin.Listen(t)
	o := &frameOrigin{ln: ln}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{upstreamCert(t, host)}, NextProtos: []string{http2.NextProtoTLS}}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			i := o.conns
			o.conns++
			o.mu.Unlock()
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				defer func() { _ = c.Close() }()
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(20 * time.Second))
				if tc.Handshake() != nil {
					return
				}
				preface := make([]byte, len(http2.ClientPreface))
				if _, err := io.ReadFull(tc, preface); err != nil || string(preface) != http2.ClientPreface {
					return
				}
				fr := http2.NewFramer(tc, tc)
				fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
				if fr.WriteSettings() != nil {
					return
				}
				script(i, fr, tc, o)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); o.wg.Wait() })
	return o
}

// nextRequest reads frames until a stream ends, acknowledging SETTINGS.
func nextRequest(fr *http2.Framer) (uint32, error) {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return 0, err
				}
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				return f.StreamID, nil
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				return f.StreamID, nil
			}
		}
	}
}

func answer200(fr *http2.Framer, id uint32) error {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	_ = enc.WriteField(hpack.HeaderField{Name: "content-length", Value: "2"})
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		return err
	}
	return fr.WriteData(id, true, []byte("ok"))
}

func (o *frameOrigin) stats() (conns, served int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conns, o.served
}

// TestH2UpstreamRetries: a request the upstream did not process (above a
// GOAWAY's last stream ID) is sent again on a new connection; one that may
// have been processed (the connection lost after it was sent) is not.
func TestH2UpstreamRetries(t *testing.T) {
	t.Run("GOAWAY before processing: retried", func(t *testing.T) {
		o := newFrameOrigin(t, "push.upstream.test", func(i int, fr *http2.Framer, _ net.Conn, o *frameOrigin) {
			for {
				id, err := nextRequest(fr)
				if err != nil {
					return
				}
				if i == 0 {
					_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
					return
				}
				o.mu.Lock()
				o.served++
				o.mu.Unlock()
				_ = answer200(fr, id)
			}
		})
		u := testH2Upstream(t)
		resp, body, err := h2Do(t, u, "POST", "push.upstream.test:"+portOf(o.ln), "/3/device/x", nil, "{}")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if conns, served := o.stats(); conns != 2 || served != 1 {
			t.Fatalf("%d connections, %d served; want 2 and 1", conns, served)
		}
	})
	t.Run("connection lost after sending: not retried", func(t *testing.T) {
		o := newFrameOrigin(t, "push.upstream.test", func(_ int, fr *http2.Framer, c net.Conn, _ *frameOrigin) {
			if _, err := nextRequest(fr); err == nil {
				_ = c.Close()
			}
		})
		u := testH2Upstream(t)
		_, _, err := h2Do(t, u, "POST", "push.upstream.test:"+portOf(o.ln), "/3/device/x", nil, "{}")
		if err == nil || errors.Is(err, errUpstreamHTTP1) {
			t.Fatalf("got %v, want a connection error", err)
		}
		if conns, _ := o.stats(); conns != 1 {
			t.Fatalf("%d connections: the request was sent again", conns)
		}
	})
}

func portOf(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// TestH2UpstreamGuard: the HTTP/2 client dials through the SSRF guard, so
// a loopback upstream is refused without an exemption.
func TestH2UpstreamGuard(t *testing.T) {
	o := newH2Origin(t, apnsHost)
	cfg := Config{UpstreamRoots: upstreamRoots(t), LookupNetIP: loopbackLookup}
	cfg.setDefaults()
	u := newH2Upstream(&cfg, newGuard(nil, cfg.LookupNetIP), tls.NewLRUClientSessionCache(8), nil)
	defer u.closeIdle()
	_, _, err := h2Do(t, u, "POST", o.authority(), "/3/device/x", nil, "{}")
	var fe *forbiddenError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want the guard's refusal", err)
	}
	if n := len(o.raw()); n != 0 {
		t.Fatalf("the upstream accepted %d connections", n)
	}
}
