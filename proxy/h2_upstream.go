package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// Values of Config.UpstreamHTTP2.
const (
	// UpstreamHTTP2Auto offers h2 and http/1.1 in ALPN to TLS upstreams and
	// speaks HTTP/2 to those that choose it.
	UpstreamHTTP2Auto = "auto"
	// UpstreamHTTP2Off speaks HTTP/1.1 to every upstream.
	UpstreamHTTP2Off = "off"
)

// errUpstreamHTTP1 reports that a TLS upstream chose HTTP/1.1 (or no
// protocol) in ALPN: the request goes over the HTTP/1.1 client instead.
var errUpstreamHTTP1 = errors.New("the upstream chose HTTP/1.1")

const (
	// h1Memory is how long an upstream that chose HTTP/1.1 is sent
	// HTTP/1.1 without asking again.
	h1Memory = 10 * time.Minute
	// maxH1Memory bounds the remembered HTTP/1.1 upstreams; the memory is
	// cleared when full.
	maxH1Memory = 4096
	// h2PingInterval is how long an upstream HTTP/2 connection may be
	// silent before a PING checks that it is alive.
	h2PingInterval = 30 * time.Second
)

// h2Upstream sends requests to TLS upstreams that choose HTTP/2 in ALPN,
// multiplexed over one pooled connection per upstream (more only when the
// upstream's SETTINGS_MAX_CONCURRENT_STREAMS is reached). Connections are
// dialled through the guard. The pool and the retries are
// golang.org/x/net/http2's: a request is retried on a new connection only
// when it was not processed (refused before it was written, REFUSED_STREAM,
// or a stream above a GOAWAY's last stream ID), never after the connection
// was lost with the request possibly sent.
type h2Upstream struct {
	t       *http2.Transport
	guard   *guard
	timeout time.Duration

	mu sync.RWMutex
	h1 map[string]time.Time // "host:port" that chose HTTP/1.1, until when
}

// newH2Upstream builds the HTTP/2 upstream client. sessions is shared with
// the HTTP/1.1 client, so that a connection made after ALPN chose
// HTTP/1.1 resumes the TLS session. countError, when set, counts the
// library's protocol errors by type.
func newH2Upstream(cfg *Config, g *guard, sessions tls.ClientSessionCache, countError func(errType string)) *h2Upstream {
	u := &h2Upstream{guard: g, timeout: cfg.UpstreamTimeout, h1: make(map[string]time.Time)}
	//nolint:staticcheck // SA1019: x/net/http2 is the HTTP/2 implementation this proxy is built on; its net/http replacements need an http.Transport, which would bring a second HTTP/1.1 client next to fasthttp.
	u.t = &http2.Transport{
		DialTLSContext: u.dialTLS,
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			RootCAs:            cfg.UpstreamRoots,
			ClientSessionCache: sessions,
			NextProtos:         []string{http2.NextProtoTLS, "http/1.1"},
		},
		// The sender's Accept-Encoding is forwarded as it is; the
		// transport adds none and decodes nothing.
		DisableCompression: true,
		MaxHeaderListSize:  uint32(min(cfg.MaxHeaderBytes, 1<<30)), //nolint:gosec // bounded above
		// No header field enters the HPACK dynamic table of a connection
		// shared by every request to the upstream: an injected value is
		// sent as a literal, never indexed, and no later request's
		// compressed size depends on it (docs/proxy.md, HTTP/2).
		MaxEncoderHeaderTableSize: 1,
		IdleConnTimeout:           cfg.IdleTimeout,
		ReadIdleTimeout:           h2PingInterval,
		PingTimeout:               15 * time.Second,
		WriteByteTimeout:          cfg.UpstreamTimeout,
		CountError:                countError,
	}
	return u
}

// wantsH2 reports whether a request to the TLS upstream addr ("host:port")
// should try HTTP/2: false while addr is remembered as HTTP/1.1 only.
func (u *h2Upstream) wantsH2(addr string) bool {
	u.mu.RLock()
	until, ok := u.h1[addr]
	u.mu.RUnlock()
	return !ok || time.Now().After(until)
}

func (u *h2Upstream) rememberH1(addr string) {
	u.mu.Lock()
	if len(u.h1) >= maxH1Memory {
		clear(u.h1)
	}
	u.h1[addr] = time.Now().Add(h1Memory)
	u.mu.Unlock()
}

// dialTLS connects to addr through the guard and offers h2 and http/1.1;
// a connection on which the upstream chose anything but h2 is closed and
// errUpstreamHTTP1 returned.
func (u *h2Upstream) dialTLS(ctx context.Context, _, addr string, cfg *tls.Config) (net.Conn, error) {
	raw, err := u.guard.dial(ctx, addr, u.timeout)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	if tc.ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
		_ = tc.Close()
		u.rememberH1(addr)
		return nil, errUpstreamHTTP1
	}
	return tc, nil
}

// roundTrip sends req over HTTP/2. errUpstreamHTTP1 (test with errors.Is)
// means the upstream speaks HTTP/1.1 only: send req with the HTTP/1.1
// client; no byte of it has been sent.
func (u *h2Upstream) roundTrip(req *http.Request) (*http.Response, error) {
	resp, err := u.t.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("http2: %w", err)
	}
	return resp, nil
}

// closeIdle closes the upstream connections that carry no request.
func (u *h2Upstream) closeIdle() { u.t.CloseIdleConnections() }

// newH2Request builds an upstream request whose :path is exactly
// pathQuery (no normalisation, a leading "//" kept) and whose :authority is
// authority. No User-Agent is added when header has none.
func newH2Request(ctx context.Context, method, authority string, pathQuery []byte, header http.Header, body []byte) *http.Request {
	if _, ok := header["User-Agent"]; !ok {
		header["User-Agent"] = nil // the transport adds its own otherwise
	}
	req := &http.Request{
		Method: method,
		// An opaque "//authority/path" is how a raw path reaches the
		// transport untouched; it sends everything after the authority.
		URL:        &url.URL{Scheme: "https", Host: authority, Opaque: "//" + authority + string(pathQuery)},
		Host:       authority,
		Header:     header,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
	}
	if len(body) > 0 {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	} else {
		req.Body = http.NoBody
	}
	return req.WithContext(ctx)
}

// hostPort is the "host:port" of an authority whose port may be implied.
func hostPort(authority string) string {
	if _, _, err := net.SplitHostPort(authority); err == nil {
		return authority
	}
	return net.JoinHostPort(strings.Trim(authority, "[]"), "443")
}

// send sends x.req to its TLS upstream over HTTP/2 and leaves the answer
// in x.resp, its body streamed. errUpstreamHTTP1 (test with errors.Is):
// the upstream chose HTTP/1.1, now or within h1Memory, and nothing was
// sent.
func (u *h2Upstream) send(x *exchange) error {
	if !u.wantsH2(hostPort(x.dest.authority)) {
		return errUpstreamHTTP1
	}
	header := make(http.Header, x.req.Header.Len())
	for k, v := range x.req.Header.All() {
		if bytes.EqualFold(k, []byte("Host")) || bytes.EqualFold(k, []byte("Content-Length")) {
			continue // :authority, and the body's own length
		}
		name := string(k)
		header[name] = append(header[name], string(v))
	}
	parent := x.ctx
	if parent == nil {
		parent = context.Background() // HTTP/1.1: the connection's end is the signal
	}
	ctx, cancel := context.WithTimeout(parent, u.timeout)
	// x.uri is https://authority + the path and query send wrote into the
	// request (x.pathQuery may alias the request's old URI bytes).
	pq := x.uri[len("https://")+len(x.dest.authority):]
	//nolint:bodyclose // closed through x.resp's body stream (cancelBody), by the scrubber or the client writer
	hresp, err := u.roundTrip(newH2Request(ctx, string(x.req.Header.Method()), x.dest.authority, pq, header, x.req.Body()))
	if err != nil {
		cancel()
		if errors.Is(err, errUpstreamHTTP1) {
			return errUpstreamHTTP1
		}
		return upstreamError(x.dest.authority, err)
	}
	resp := x.resp
	resp.Reset()
	resp.SetStatusCode(hresp.StatusCode)
	for k, vs := range hresp.Header {
		for _, v := range vs {
			resp.Header.Add(k, v)
		}
	}
	cl := -1
	if hresp.ContentLength >= 0 {
		cl = int(hresp.ContentLength)
	}
	resp.SetBodyStream(&cancelBody{ReadCloser: hresp.Body, cancel: cancel}, cl)
	return nil
}

// cancelBody ends an upstream exchange's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

// Close closes the body and ends its exchange's context.
func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
