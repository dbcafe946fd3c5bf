package proxy

import (
	"context"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sidekey/sidekey/injector"
	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/secret"
)

const (
	headerSidekeyError = "Sidekey-Error"
	headerSidekeyNonce = "Sidekey-Nonce"
	minNonceLen        = 16
)

// exchange is one request as every stage of the pipeline sees it, whatever
// protocol it arrived in. The protocol adapters (h1.go for HTTP/1.1 with
// fasthttp, h2_server.go for HTTP/2 with golang.org/x/net/http2) fill req
// from the wire, call Proxy.serve, and write resp back; no stage reads or
// writes the wire. req and resp are fasthttp's Request and Response used as
// plain header and body containers. Exchanges are pooled so that the hot
// path does not allocate.
type exchange struct {
	req    *fasthttp.Request
	resp   *fasthttp.Response
	tunnel *tunnelConn // the intercepted tunnel, nil for an absolute-form request
	// ctx ends when the client gave the request up (an HTTP/2 stream
	// reset); nil for HTTP/1.1, where the connection's end is the signal.
	ctx context.Context

	// Set by route.
	mode      mode
	dest      dest
	tenant    secret.Tenant
	pathQuery []byte // path and query to send (rewritten by inject)
	nonce     string
	sign      string // the Sidekey-Sign directive, "" for none

	// Set by inject.
	rw    *injector.Rewriter // nil when the request held nothing to resolve
	scrub *injector.Scrubber // nil when there is nothing to scrub

	// Scratch space.
	tr      tenantResolver
	uri     []byte // the upstream request URI
	pq      []byte // path and query, when rebuilt
	names   [][]byte
	nameBuf []byte
	kvs     []headerKV
	hdrBuf  []byte // backing bytes of kvs
}

type headerKV struct{ k, v []byte }

// exchangePool recycles exchanges, with their scratch space, so that the
// hot path does not allocate.
type exchangePool struct{ pool sync.Pool }

// get returns an exchange for req and resp.
func (xp *exchangePool) get(req *fasthttp.Request, resp *fasthttp.Response, tc *tunnelConn) *exchange {
	x, _ := xp.pool.Get().(*exchange)
	if x == nil {
		x = new(exchange)
	}
	x.req, x.resp, x.tunnel = req, resp, tc
	x.mode = modeOther
	if tc != nil {
		x.mode = modeIntercepted
	}
	return x
}

// put clears x, keeping its scratch space, and recycles it.
func (xp *exchangePool) put(x *exchange) {
	if x.rw != nil {
		x.rw.Release()
	}
	x.req, x.resp, x.tunnel, x.ctx = nil, nil, nil, nil
	x.dest, x.tenant, x.pathQuery, x.nonce, x.sign = dest{}, secret.Tenant{}, nil, "", ""
	x.rw, x.scrub = nil, nil
	x.tr = tenantResolver{}
	x.names = x.names[:0]
	x.nameBuf = x.nameBuf[:0]
	for i := range x.kvs {
		x.kvs[i] = headerKV{}
	}
	x.kvs = x.kvs[:0]
	xp.pool.Put(x)
}

// tenantResolver adapts the proxy's Resolver to the injector's, binding
// the request's tenant, and times each resolution.
type tenantResolver struct {
	r     Resolver
	t     secret.Tenant
	m     *metrics
	creds *credential.Minter // token filters (credentials.go)
}

// Resolve implements injector.Resolver. Its frame is on the stack under
// the store's lookup, so the observation is in metrics.resolved and the
// results are named (one copy of the secret fewer in the frame).
func (tr *tenantResolver) Resolve(ctx context.Context, alias string) (s secret.Secret, err error) {
	start := time.Now()
	s, err = tr.r.Resolve(ctx, tr.t, alias)
	tr.m.resolved(start, err)
	return s, err
}

var _ injector.Resolver = (*tenantResolver)(nil)

// serve runs the pipeline on x: route (destination, tenant, checks), inject
// (placeholders to values), sign (a Sidekey-Sign signature over the request
// as sent), send (upstream, HTTP/1.1 or HTTP/2), scrub (values back to
// placeholders). It leaves the answer in x.resp: the
// upstream's, or the error. It returns the refusal's code, or "" on
// success.
func (p *Proxy) serve(x *exchange) Code {
	err := p.route(x)
	if err == nil {
		err = p.inject(x)
	}
	if err == nil {
		err = p.sign(x)
	}
	if err == nil {
		err = p.send(x)
	}
	if err == nil {
		err = p.scrub(x)
	}
	if err != nil {
		return p.refuse(x, err)
	}
	p.m.ok(x.mode)
	if ce := p.log.Check(zap.DebugLevel, "request"); ce != nil {
		logServed(ce, x)
	}
	return ""
}

// logServed writes the debug line of a request served, apart from serve so
// that its fields add nothing to serve's frame, which is on the stack
// under every stage.
func logServed(ce *zapcore.CheckedEntry, x *exchange) {
	ce.Write(zap.String("mode", string(x.mode)), zap.String("tenant", x.tenant.String()),
		zap.String("dest", x.dest.authority), zap.Int("status", x.resp.StatusCode()))
}

// refuse answers x with the error's code (the one error writer), counts
// and logs it, and returns the code.
func (p *Proxy) refuse(x *exchange, err error) Code {
	code, msg := classify(err)
	writeError(x.resp, code, msg)
	p.m.failed(x.mode, code)
	if ce := p.log.Check(zap.InfoLevel, "request refused"); ce != nil {
		ce.Write(zap.String("code", string(code)), zap.String("mode", string(x.mode)),
			zap.String("tenant", x.tenant.String()), zap.String("dest", x.dest.authority),
			zap.String("reason", msg))
	}
	return code
}
