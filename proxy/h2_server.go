package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"golang.org/x/net/http2"
)

// DefaultH2MaxConcurrentStreams is the default of
// Config.H2MaxConcurrentStreams (golang.org/x/net/http2's own default).
const DefaultH2MaxConcurrentStreams = 250

// h2MaxReadFrameSize is the largest frame the proxy reads from an h2
// client: the protocol's minimum, which bounds the read buffer a
// connection keeps.
const h2MaxReadFrameSize = 16 << 10

// h2Metrics count the HTTP/2 library's protocol errors (rapid resets,
// CONTINUATION floods, flow-control violations…) by side and type.
type h2Metrics struct {
	errors *prometheus.CounterVec
}

func newH2Metrics(reg prometheus.Registerer) (*h2Metrics, error) {
	m := &h2Metrics{errors: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sidekey_proxy_h2_errors_total",
		Help: "HTTP/2 protocol errors seen by the library, by side (client or upstream) and type (scope_ERROR_reason, e.g. conn_ENHANCE_YOUR_CALM_too_many_early_resets).",
	}, []string{"side", "type"})}
	if err := reg.Register(m.errors); err != nil {
		return nil, fmt.Errorf("proxy: h2 metrics: %w", err)
	}
	return m, nil
}

func (m *h2Metrics) counter(side string) func(errType string) {
	return func(errType string) { m.errors.WithLabelValues(side, errType).Inc() }
}

// newH2Server returns the HTTP/2 server of intercepted connections on which
// the client chose h2, and the base configuration its streams share. The
// library enforces: at most MaxConcurrentStreams open streams and as many
// running handlers per connection (streams opened and reset faster than
// handlers finish queue up to four times that, then the connection ends
// with ENHANCE_YOUR_CALM: CVE-2023-44487); a header list of at most
// MaxHeaderBytes, with a connection that keeps sending CONTINUATION frames
// past it closed (CVE-2023-45288); frames of at most 16 KiB; the idle
// timeout.
func newH2Server(cfg *Config, log *zap.Logger, countError func(string)) (*http2.Server, *http.Server) {
	//nolint:staticcheck // SA1019: see h2Upstream.
	srv := &http2.Server{
		MaxConcurrentStreams: uint32(cfg.H2MaxConcurrentStreams), //nolint:gosec // validated positive
		MaxReadFrameSize:     h2MaxReadFrameSize,
		IdleTimeout:          cfg.IdleTimeout,
		CountError:           countError,
	}
	base := &http.Server{
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		ReadTimeout:    cfg.ReadTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		// The library's connection errors name the peer and the HTTP/2
		// error, never a header value.
		ErrorLog: zap.NewStdLog(log.Named("http2")),
	}
	//nolint:staticcheck // SA1019: registers the GOAWAY of a drain (base.Shutdown) on every h2 connection.
	_ = http2.ConfigureServer(base, srv)
	return srv, base
}

// serveH2 serves an intercepted connection on which the client chose h2
// until it ends.
func (p *Proxy) serveH2(tc *tunnelConn) {
	//nolint:staticcheck // SA1019: see h2Upstream.
	p.h2srv.ServeConn(tc, &http2.ServeConnOpts{
		Context:    p.baseCtx,
		BaseConfig: p.h2base,
		Handler:    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serveH2Stream(w, r, tc) }),
	})
}

// h2Stream is the pooled scratch space of one h2 stream: the request and
// response of its exchange, and the body buffer.
type h2Stream struct {
	req  fasthttp.Request
	resp fasthttp.Response
	body []byte
}

// serveH2Stream is the HTTP/2 adapter: it fills an exchange from one
// stream (pseudo-headers, fields, body), runs the same pipeline as an
// HTTP/1.1 request in the tunnel, and writes the answer on that stream
// only. What HTTP/2 forbids (upper-case names, connection-specific fields,
// Host differing from :authority) the library refused before this runs.
func (p *Proxy) serveH2Stream(w http.ResponseWriter, r *http.Request, tc *tunnelConn) {
	s := p.h2Streams.Get().(*h2Stream)
	x := p.exchanges.get(&s.req, &s.resp, tc)
	x.ctx = r.Context()
	defer func() {
		p.exchanges.put(x)
		s.req.Reset()
		s.resp.Reset()
		p.h2Streams.Put(s)
	}()
	req := &s.req
	req.Header.SetMethod(r.Method)
	req.SetRequestURI(r.RequestURI) // :path, exactly as sent
	req.Header.SetHost(r.Host)      // :authority, checked against the CONNECT target as Host is
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	limit := int64(p.cfg.MaxBodyBytes)
	tooLarge := newError(CodeBodyTooLarge, fmt.Sprintf("the request body exceeds %d bytes", p.cfg.MaxBodyBytes))
	if r.ContentLength > limit {
		p.refuse(x, tooLarge)
		writeH2Response(w, &s.resp, false)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := readBody(r.Body, s.body[:0], r.ContentLength, limit)
		s.body = body[:0]
		switch {
		case errors.Is(err, errBodyTooLarge):
			p.refuse(x, tooLarge)
			writeH2Response(w, &s.resp, false)
			return
		case err != nil:
			return // the stream was reset or timed out: nobody to answer
		}
		req.SetBodyRaw(body)
	}
	p.serve(x)
	writeH2Response(w, &s.resp, r.Method == http.MethodHead)
}

var errBodyTooLarge = errors.New("body too large")

// readBody reads a request body into buf (reused across streams), at most
// limit bytes.
func readBody(r io.Reader, buf []byte, contentLength, limit int64) ([]byte, error) {
	if contentLength > 0 && int64(cap(buf)) < contentLength {
		buf = make([]byte, 0, contentLength)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errBodyTooLarge
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// writeH2Response writes the exchange's response on an h2 stream: status,
// headers (hop-by-hop ones are already stripped), and the body, streamed
// (each read flushed) when the upstream's was. A HEAD response keeps the
// upstream's Content-Length.
func writeH2Response(w http.ResponseWriter, resp *fasthttp.Response, head bool) {
	h := w.Header()
	for k, v := range resp.Header.All() {
		if name, ok := commonHeaderNames[string(k)]; ok {
			h[name] = append(h[name], string(v))
			continue
		}
		if bytes.EqualFold(k, []byte("Connection")) || bytes.EqualFold(k, []byte("Transfer-Encoding")) ||
			bytes.EqualFold(k, []byte("Content-Length")) {
			continue
		}
		h.Add(string(k), string(v))
	}
	stream := resp.BodyStream()
	switch cl := resp.Header.ContentLength(); {
	case stream == nil && !head:
		h.Set("Content-Length", strconv.Itoa(len(resp.Body())))
	case cl >= 0:
		h.Set("Content-Length", strconv.Itoa(cl))
	}
	w.WriteHeader(resp.StatusCode())
	if stream == nil {
		_, _ = w.Write(resp.Body())
		return
	}
	defer resp.CloseBodyStream() //nolint:errcheck // read to its end, or the stream is gone
	copyFlushing(w, stream)
}

// copyFlushing copies a streamed body to an h2 stream, flushing each read
// so that a slow upstream's chunks reach the sender as they come.
func copyFlushing(w http.ResponseWriter, r io.Reader) {
	f, _ := w.(http.Flusher)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// commonHeaderNames interns the canonical names of frequent response
// headers, so that copying them into an h2 response does not allocate.
var commonHeaderNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Content-Type", "Date", "Server", "Cache-Control", "Etag", "Last-Modified",
		"Vary", "Set-Cookie", "Location", "Content-Encoding", "Expires", "X-Request-Id", "Apns-Id",
		"Access-Control-Allow-Origin", "Strict-Transport-Security", "Retry-After", "Www-Authenticate",
		"Sidekey-Error", "Proxy-Authenticate"} {
		m[n] = n
	}
	return m
}()
