package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sidekey/sidekey/injector"
)

// newUpstreamClient returns the pooled upstream client: keep-alive
// connections per host, dialled through the guard, TLS verified against
// cfg.UpstreamRoots (or the system roots), response bodies streamed.
func newUpstreamClient(cfg *Config, g *guard, sessions tls.ClientSessionCache) *fasthttp.Client {
	return &fasthttp.Client{
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			return g.dial(context.Background(), addr, timeout)
		},
		TLSConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			RootCAs:            cfg.UpstreamRoots,
			ClientSessionCache: sessions,
		},
		ReadTimeout:                   cfg.UpstreamTimeout,
		WriteTimeout:                  cfg.UpstreamTimeout,
		MaxIdleConnDuration:           cfg.IdleTimeout,
		MaxConnsPerHost:               1024,
		MaxConnWaitTimeout:            cfg.UpstreamTimeout,
		ReadBufferSize:                cfg.MaxHeaderBytes,
		NoDefaultUserAgentHeader:      true,
		DisablePathNormalizing:        true,
		DisableHeaderNamesNormalizing: false,
		StreamResponseBody:            true,
		MaxIdemponentCallAttempts:     2,
		RetryIfErr: func(_ *fasthttp.Request, attempts int, err error) (bool, bool) {
			// Retry once on a pooled connection the upstream closed; never
			// on a refused destination or a timeout.
			var fe *forbiddenError
			if errors.As(err, &fe) || isTimeout(err) || errors.Is(err, fasthttp.ErrTimeout) {
				return false, false
			}
			return false, attempts < 2
		},
		ConfigureClient: func(hc *fasthttp.HostClient) error {
			hc.SecureErrorLogMessage = true
			return nil
		},
	}
}

// send is the third stage: it sends x.req to x.dest and leaves the
// answer in x.resp, its hop-by-hop headers stripped and its body streamed.
func (p *Proxy) send(x *exchange) error {
	d, req, resp := &x.dest, x.req, x.resp
	// scheme://authority + path and query as sent (or as rewritten),
	// without normalisation.
	x.uri = append(x.uri[:0], d.scheme()...)
	x.uri = append(x.uri, "://"...)
	x.uri = append(x.uri, d.authority...)
	x.uri = append(x.uri, x.pathQuery...)
	req.SetRequestURIBytes(x.uri)
	req.Header.SetHost(d.authority)
	if x.scrub != nil {
		limitAcceptEncoding(&req.Header)
	}
	if x.ctx != nil && x.ctx.Err() != nil {
		// The sender reset the stream: nothing is sent on its behalf.
		return &proxyError{code: CodeUpstreamUnreachable, msg: "the request was cancelled by the client before it was sent", err: x.ctx.Err()}
	}
	req.SetTimeout(p.cfg.UpstreamTimeout)
	start := time.Now()
	var err error
	if p.h2up != nil && d.https {
		// Offered h2 first; an upstream that picks HTTP/1.1 (or picked it
		// lately) is sent the request (nothing of it went out yet) over
		// the pooled client.
		if err = p.h2up.send(x); errors.Is(err, errUpstreamHTTP1) {
			err = p.client.Do(req, resp)
		}
	} else {
		err = p.client.Do(req, resp)
	}
	p.m.upstream.Observe(time.Since(start).Seconds())
	if err != nil {
		return upstreamError(d.authority, err)
	}
	stripResponseHeaders(&resp.Header, x)
	return nil
}

// scrub is the last stage: when values were injected, it replaces them in
// the response headers and body with their placeholders. The body is read
// whole (up to MaxScrubBytes); a body that cannot be read or scrubbed
// fails the request closed.
func (p *Proxy) scrub(x *exchange) error {
	s, resp, authority := x.scrub, x.resp, x.dest.authority
	if s == nil {
		return nil
	}
	if scrubHeaders(&resp.Header, s) {
		p.m.scrubbed.WithLabelValues("header").Inc()
	}
	var body []byte
	if stream := resp.BodyStream(); stream != nil {
		b, err := io.ReadAll(io.LimitReader(stream, int64(p.cfg.MaxScrubBytes)+1))
		if cerr := resp.CloseBodyStream(); err == nil {
			err = cerr
		}
		if err != nil {
			return upstreamError(authority, err)
		}
		if len(b) > p.cfg.MaxScrubBytes {
			return newError(CodeUpstreamUnreachable, "the response of "+authority+" is too large to scrub")
		}
		body = b
	} else {
		body = resp.Body()
	}
	if len(body) == 0 {
		return nil // nothing to scrub (a HEAD response keeps its Content-Length)
	}
	out, err := s.Body(body, resp.Header.ContentEncoding())
	if err != nil {
		return &proxyError{code: CodeUpstreamUnreachable, msg: "the response of " + authority + " could not be scrubbed", err: err}
	}
	if !bytes.Equal(out, body) {
		p.m.scrubbed.WithLabelValues("body").Inc()
	}
	resp.SetBodyRaw(out)
	return nil
}

// scrubHeaders replaces injected values in the response headers h with
// their placeholders, and reports whether it replaced any.
func scrubHeaders(h *fasthttp.ResponseHeader, s *injector.Scrubber) bool {
	var changed []headerKV
	for k, v := range h.All() {
		if nv := s.Bytes(v); !bytes.Equal(nv, v) {
			changed = append(changed, headerKV{k: append([]byte(nil), k...), v: nv})
		}
	}
	for _, kv := range changed {
		h.DelBytes(kv.k)
	}
	for _, kv := range changed {
		h.AddBytesKV(kv.k, kv.v)
	}
	return len(changed) > 0
}
