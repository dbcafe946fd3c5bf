package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/testbin"
)

// tapConn records every byte read from a connection, so that a test can
// check exactly what an upstream received on the wire.
type tapConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.buf.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}

// origin is a TLS upstream on loopback that records the raw bytes of each
// connection (after TLS) and the requests its handler saw. With
// alpn ["h2"] it is APNs-like: it speaks HTTP/2 only, and a connection
// that did not choose h2 gets a 505 and is closed.
type origin struct {
	t      *testing.T
	host   string
	ln     net.Listener
	h2only bool
	srv    *http.Server // HTTP/1.1 serving (h1 origins)

	recorder
	mu       sync.Mutex // guards taps and rejected
	taps     []*tapConn
	rejected int // connections that did not speak the origin's protocol
	wg       sync.WaitGroup
}

// newH2Origin starts an APNs-like upstream: TLS with NextProtos ["h2"],
// HTTP/2 served by golang.org/x/net/http2, HTTP/1.1 refused.
func newH2Origin(t *testing.T, host string) *origin {
	t.Helper()
	o := &origin{t: t, host: host, h2only: true}
	o.listen(t, []string{http2.NextProtoTLS})
	o.wg.Add(1)
	go o.acceptH2()
	return o
}

// newH1Origin starts an upstream that offers and speaks only HTTP/1.1.
func newH1Origin(t *testing.T, host string) *origin {
	t.Helper()
	o := &origin{t: t, host: host}
	o.listen(t, []string{"http/1.1"})
	o.srv = &http.Server{Handler: http.HandlerFunc(o.serve), ReadHeaderTimeout: 10 * time.Second}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		_ = o.srv.Serve(&tapListener{Listener: o.ln, o: o, cfg: o.tlsConfig([]string{"http/1.1"})})
	}()
	t.Cleanup(func() { _ = o.srv.Close() })
	return o
}

func (o *origin) listen(t *testing.T, _ []string) {
	ln := testbin.Listen(t)
	o.ln = ln
	t.Cleanup(func() {
		_ = ln.Close()
		o.mu.Lock()
		for _, c := range o.taps {
			_ = c.Close()
		}
		o.mu.Unlock()
		o.wg.Wait()
	})
}

func (o *origin) tlsConfig(protos []string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{upstreamCert(o.t, o.host)},
		NextProtos:   protos,
	}
}

// tapListener accepts TLS connections and records what is read from them
// after decryption.
type tapListener struct {
	net.Listener
	o   *origin
	cfg *tls.Config
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &tapConn{Conn: tls.Server(c, l.cfg)}
	l.o.mu.Lock()
	l.o.taps = append(l.o.taps, tc)
	l.o.mu.Unlock()
	return tc, nil
}

func (o *origin) acceptH2() {
	defer o.wg.Done()
	tl := &tapListener{Listener: o.ln, o: o, cfg: o.tlsConfig([]string{http2.NextProtoTLS})}
	//nolint:staticcheck // SA1019: the x/net/http2 server is the one under test here.
	srv := &http2.Server{}
	for {
		c, err := tl.Accept()
		if err != nil {
			return
		}
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			defer func() { _ = c.Close() }()
			tc := c.(*tapConn).Conn.(*tls.Conn)
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				o.reject()
				return
			}
			_ = tc.SetDeadline(time.Time{})
			if tc.ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
				o.reject()
				_, _ = io.WriteString(tc, "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				return
			}
			srv.ServeConn(c, &http2.ServeConnOpts{Handler: http.HandlerFunc(o.serve)})
		}()
	}
}

func (o *origin) reject() {
	o.mu.Lock()
	o.rejected++
	o.mu.Unlock()
}

// serve records the request and answers: by default like APNs, 200 with an
// apns-id for POST /3/device/{token} with a bearer authorization, 400
// {"reason":…} otherwise.
func (o *origin) serve(w http.ResponseWriter, r *http.Request) {
	body, answer := o.record(r)
	if answer != nil {
		answer(w, r, body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/3/device/"):
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"reason":"BadPath"}`)
	case !strings.HasPrefix(r.Header.Get("Authorization"), "bearer "):
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"reason":"MissingProviderToken"}`)
	default:
		w.Header().Set("Apns-Id", "eabeae54-14a8-11e5-b60b-1697f925ec7b")
		w.WriteHeader(http.StatusOK)
	}
}

func (o *origin) port() string {
	_, p, _ := net.SplitHostPort(o.ln.Addr().String())
	return p
}

// authority is host:port of the origin under its test name.
func (o *origin) authority() string { return o.host + ":" + o.port() }

func (o *origin) url(path string) string { return "https://" + o.authority() + path }

func (o *origin) rejections() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rejected
}

// raw returns the bytes each connection received, in accept order.
func (o *origin) raw() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([][]byte, len(o.taps))
	for i, c := range o.taps {
		out[i] = c.bytes()
	}
	return out
}

// wireStream is one HTTP/2 stream as decoded from the bytes an origin
// received: its header fields in wire order (with the never-indexed flag)
// and its DATA.
type wireStream struct {
	id     uint32
	fields []hpack.HeaderField
	data   []byte
}

func (s *wireStream) header(name string) []string {
	var vs []string
	for _, f := range s.fields {
		if f.Name == name {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// wireConn is an HTTP/2 connection decoded from raw bytes: the streams, and
// the decoder, whose dynamic table is the table the sender built.
type wireConn struct {
	streams []*wireStream
	dec     *hpack.Decoder
}

// decodeH2 decodes the client side of an HTTP/2 connection (the preface,
// then frames) with golang.org/x/net/http2's Framer and hpack decoder.
func decodeH2(raw []byte) (*wireConn, error) {
	if !bytes.HasPrefix(raw, []byte(http2.ClientPreface)) {
		return nil, errors.New("no HTTP/2 client preface")
	}
	fr := http2.NewFramer(io.Discard, bytes.NewReader(raw[len(http2.ClientPreface):]))
	fr.SetMaxReadFrameSize(1 << 24)
	wc := &wireConn{dec: hpack.NewDecoder(4096, nil)}
	fr.ReadMetaHeaders = wc.dec
	byID := map[uint32]*wireStream{}
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return wc, nil
		}
		if err != nil {
			return wc, err
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			s := byID[f.StreamID]
			if s == nil {
				s = &wireStream{id: f.StreamID}
				byID[f.StreamID] = s
				wc.streams = append(wc.streams, s)
			}
			s.fields = append(s.fields, f.Fields...)
		case *http2.DataFrame:
			if s := byID[f.StreamID]; s != nil {
				s.data = append(s.data, f.Data()...)
			}
		}
	}
}

// dynamicTable lists the entries of dec's dynamic table, newest first, by
// decoding indexed representations (RFC 7541 §6.1) of the indices after
// the static table until one is out of range.
func dynamicTable(dec *hpack.Decoder) []hpack.HeaderField {
	var out []hpack.HeaderField
	for i := 62; i < 62+256; i++ {
		var rep []byte
		if i < 127 {
			rep = []byte{0x80 | byte(i)}
		} else {
			rep = []byte{0xff, byte(i - 127)} // 7-bit prefix full, then the rest
		}
		fs, err := dec.DecodeFull(rep)
		if err != nil {
			break
		}
		out = append(out, fs...)
	}
	return out
}

// connectTunnel opens a CONNECT tunnel to authority through the proxy as
// tenant and returns the raw connection, ready for TLS.
func connectTunnel(ctx context.Context, tp *testProxy, tenant secret.Tenant, authority string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", tp.addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\nProxy-Authorization: " + tp.authHeader(tenant) + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		_ = c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_ = c.Close()
		return nil, fmt.Errorf("CONNECT %s: %s (%s)", authority, resp.Status, resp.Header.Get("Sidekey-Error"))
	}
	if br.Buffered() > 0 {
		_ = c.Close()
		return nil, errors.New("bytes after the CONNECT response")
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// sidekeyRoots trusts the proxy's CA.
func (tp *testProxy) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(tp.ca.Cert)
	return pool
}

// dialH2 opens a CONNECT tunnel to authority and a TLS connection inside
// it offering protos, trusting the proxy's CA.
func dialH2(ctx context.Context, tp *testProxy, tenant secret.Tenant, authority string, protos []string) (*tls.Conn, error) {
	c, err := connectTunnel(ctx, tp, tenant, authority)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(authority)
	tc := tls.Client(c, &tls.Config{RootCAs: tp.roots(), ServerName: host, NextProtos: protos, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return tc, nil
}

// h2Client returns an HTTP client speaking HTTP/2 only, through a CONNECT
// tunnel per connection, the way APNs client libraries (sideshow/apns2)
// and Go senders with golang.org/x/net/http2's Transport reach a proxy.
func (tp *testProxy) h2Client(tenant secret.Tenant) (*http.Client, *http2.Transport) {
	//nolint:staticcheck // SA1019: x/net/http2's Transport is the sender pattern under test.
	tr := &http2.Transport{
		DialTLSContext: func(ctx context.Context, _, addr string, _ *tls.Config) (net.Conn, error) {
			tc, err := dialH2(ctx, tp, tenant, addr, []string{http2.NextProtoTLS})
			if err != nil {
				return nil, err
			}
			if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
				_ = tc.Close()
				return nil, fmt.Errorf("ALPN chose %q, not h2", p)
			}
			return tc, nil
		},
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, tr
}

// rawH2 is a test client that writes HTTP/2 frames by hand with
// golang.org/x/net/http2's Framer and hpack encoder, to send what a
// well-behaved client library never would.
type rawH2 struct {
	c   *tls.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

// newRawH2 opens a tunnel and an h2 connection, and exchanges SETTINGS.
func newRawH2(t *testing.T, tp *testProxy, tenant secret.Tenant, authority string) *rawH2 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc, err := dialH2(ctx, tp, tenant, authority, []string{http2.NextProtoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		t.Fatalf("ALPN chose %q, not h2", p)
	}
	r := &rawH2{c: tc, fr: http2.NewFramer(tc, tc)}
	r.enc = hpack.NewEncoder(&r.hb)
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(tc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return r
}

// block encodes fields into one header block.
func (r *rawH2) block(fields ...hpack.HeaderField) []byte {
	r.hb.Reset()
	for _, f := range fields {
		_ = r.enc.WriteField(f)
	}
	return append([]byte(nil), r.hb.Bytes()...)
}

// request writes HEADERS (and DATA when body is set) on stream id.
func (r *rawH2) request(id uint32, fields []hpack.HeaderField, body []byte) error {
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.block(fields...), EndHeaders: true, EndStream: len(body) == 0}); err != nil {
		return err
	}
	if len(body) > 0 {
		return r.fr.WriteData(id, true, body)
	}
	return nil
}

// waitSettings reads frames until the server's SETTINGS, and acknowledges
// them.
func (r *rawH2) waitSettings(t *testing.T) {
	t.Helper()
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			if err := r.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// h2Answer is what the client saw on one stream.
type h2Answer struct {
	status string
	header map[string]string
	body   []byte
	reset  http2.ErrCode // when the stream was reset
	wasRST bool
}

// readUntil reads frames, acknowledging SETTINGS and PINGs, until every
// stream in ids has ended (or was reset), or a GOAWAY arrives (returned).
func (r *rawH2) readUntil(ids ...uint32) (map[uint32]*h2Answer, *http2.GoAwayFrame, error) {
	out := map[uint32]*h2Answer{}
	open := map[uint32]bool{}
	for _, id := range ids {
		open[id] = true
		out[id] = &h2Answer{header: map[string]string{}}
	}
	for len(open) > 0 {
		f, err := r.fr.ReadFrame()
		if err != nil {
			return out, nil, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := r.fr.WriteSettingsAck(); err != nil {
					return out, nil, err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = r.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			return out, f, nil
		case *http2.MetaHeadersFrame:
			a := out[f.StreamID]
			if a == nil {
				continue
			}
			for _, hf := range f.Fields {
				if hf.Name == ":status" {
					a.status = hf.Value
				} else {
					a.header[hf.Name] = hf.Value
				}
			}
			if f.StreamEnded() {
				delete(open, f.StreamID)
			}
		case *http2.DataFrame:
			a := out[f.StreamID]
			if a == nil {
				continue
			}
			a.body = append(a.body, f.Data()...)
			if n := len(f.Data()); n > 0 {
				_ = r.fr.WriteWindowUpdate(0, uint32(n))
				_ = r.fr.WriteWindowUpdate(f.StreamID, uint32(n))
			}
			if f.StreamEnded() {
				delete(open, f.StreamID)
			}
		case *http2.RSTStreamFrame:
			if a := out[f.StreamID]; a != nil {
				a.reset, a.wasRST = f.ErrCode, true
				delete(open, f.StreamID)
			}
		}
	}
	return out, nil, nil
}

// hf is a header field literal for raw requests.
func hf(name, value string) hpack.HeaderField { return hpack.HeaderField{Name: name, Value: value} }
