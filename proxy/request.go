package proxy

import (
	"bytes"
	"context"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/injector"
	"github.com/sidekey/sidekey/internal/secret"
)

const (
	headerSidekeyError = "Sidekey-Error"
	headerSidekeyNonce = "Sidekey-Nonce"
	minNonceLen        = 16
)

// reqState is the per-request scratch space, pooled so that the hot path
// does not allocate.
type reqState struct {
	tr      tenantResolver
	uri     []byte // the upstream request URI
	pq      []byte // path and query, when rebuilt
	names   [][]byte
	nameBuf []byte
	kvs     []headerKV
	hdrBuf  []byte // backing bytes of kvs
}

type headerKV struct{ k, v []byte }

func (p *Proxy) getState() *reqState { return p.states.Get().(*reqState) }

func (p *Proxy) putState(st *reqState) {
	st.tr = tenantResolver{}
	st.names = st.names[:0]
	st.nameBuf = st.nameBuf[:0]
	for i := range st.kvs {
		st.kvs[i] = headerKV{}
	}
	st.kvs = st.kvs[:0]
	p.states.Put(st)
}

// tenantResolver adapts the proxy's Resolver to the injector's, binding
// the request's tenant, and times each resolution.
type tenantResolver struct {
	r Resolver
	t secret.Tenant
	m *metrics
}

// Resolve implements injector.Resolver.
func (tr *tenantResolver) Resolve(ctx context.Context, alias string) (secret.Secret, error) {
	start := time.Now()
	s, err := tr.r.Resolve(ctx, tr.t, alias)
	result := "ok"
	if err != nil {
		result = "error"
	}
	tr.m.resolve.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return s, err
}

var _ injector.Resolver = (*tenantResolver)(nil)

// serveRequest handles one proxied request: absolute-form on the listener,
// or any request inside an intercepted tunnel (tc non-nil).
func (p *Proxy) serveRequest(ctx *fasthttp.RequestCtx, tc *tunnelConn) {
	st := p.getState()
	defer p.putState(st)
	mode := modeIntercepted
	if tc == nil {
		mode = modeOther
	}
	d, tenant, err := p.forward(ctx, st, tc, &mode)
	if err != nil {
		code, msg := classify(err)
		writeError(ctx, code, msg)
		if code == CodeInvalidRequest || code == CodeHostNotAllowed && tc == nil {
			// The rest of the connection cannot be trusted to be framed as
			// the client meant.
			ctx.SetConnectionClose()
		}
		p.m.failed(mode, code)
		if ce := p.log.Check(zap.InfoLevel, "request refused"); ce != nil {
			ce.Write(zap.String("code", string(code)), zap.String("mode", mode),
				zap.String("tenant", tenant.String()), zap.String("dest", d.authority),
				zap.String("reason", msg))
		}
		return
	}
	p.m.ok(mode)
	if tc != nil && p.draining.Load() {
		ctx.SetConnectionClose() // the inner server has no listener to stop
	}
	if ce := p.log.Check(zap.DebugLevel, "request"); ce != nil {
		ce.Write(zap.String("mode", mode), zap.String("tenant", tenant.String()),
			zap.String("dest", d.authority), zap.Int("status", ctx.Response.StatusCode()))
	}
}

// forward authenticates, checks, injects and sends one request upstream,
// leaving the upstream's response in ctx.Response.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, st *reqState, tc *tunnelConn, mode *string) (dest, secret.Tenant, error) {
	req := &ctx.Request
	if conflictingFraming(req.Header.RawHeaders()) {
		// fasthttp lets Transfer-Encoding win; a proxy must refuse the
		// ambiguity (RFC 9112 §6.3), or it smuggles the rest.
		return dest{}, secret.Tenant{}, newError(CodeInvalidRequest, "both Content-Length and Transfer-Encoding are set")
	}
	uri := req.Header.RequestURI()
	var (
		d         dest
		tenant    secret.Tenant
		pathQuery []byte
	)
	if tc != nil {
		d, tenant = tc.dest, tc.tenant
		pathQuery = uri
		if https, authority, rest, ok := splitAbsolute(uri); ok {
			ad, err := parseAuthority(authority, https, false)
			if err != nil {
				return d, tenant, err
			}
			if !https || ad.host != d.host || ad.port != d.port {
				return d, tenant, newError(CodeHostNotAllowed, "the request URI does not match the CONNECT target "+d.authority)
			}
			pathQuery = rest
		} else if len(uri) == 0 || uri[0] != '/' {
			return d, tenant, newError(CodeInvalidRequest, "malformed request URI")
		}
	} else {
		https, authority, rest, ok := splitAbsolute(uri)
		if !ok {
			return d, tenant, newError(CodeInvalidRequest,
				"not a proxy request: send an absolute-form URI (http:// or https://) or CONNECT")
		}
		*mode = modeHTTP
		if https {
			*mode = modeHTTPS
		}
		var err error
		if tenant, err = p.auth.tenant(&req.Header); err != nil {
			p.m.authFailed.Inc()
			return d, tenant, err
		}
		if d, err = p.dests.parse(authority, https); err != nil {
			return d, tenant, err
		}
		pathQuery = rest
	}
	if h := req.Header.Host(); len(h) > 0 && !d.matchesHostHeader(h) {
		if bytes.Contains(h, []byte("{{")) {
			return d, tenant, newError(CodeInvalidPlaceholder, "a placeholder is not allowed in the Host header")
		}
		return d, tenant, newError(CodeHostNotAllowed, "the Host header does not match the destination "+d.authority)
	}
	if len(pathQuery) == 0 || pathQuery[0] != '/' {
		// "http://h?q" and "http://h" mean path "/".
		st.pq = append(append(st.pq[:0], '/'), pathQuery...)
		pathQuery = st.pq
	}
	if i := bytes.IndexByte(pathQuery, '#'); i >= 0 {
		pathQuery = pathQuery[:i]
	}

	nonce := req.Header.Peek(headerSidekeyNonce)
	if len(nonce) > 0 && len(nonce) < minNonceLen {
		return d, tenant, newError(CodeInvalidPlaceholder, "Sidekey-Nonce must be at least 16 characters")
	}
	nonceStr := string(nonce) // copied before the header is stripped

	stripRequestHeaders(&req.Header, st)

	rw, pq, err := p.inject(ctx, st, d.host, tenant, nonceStr, pathQuery)
	if rw != nil {
		defer rw.Release()
	}
	if err != nil {
		return d, tenant, err
	}
	var scrub *injector.Scrubber
	if rw != nil && rw.Replaced() > 0 {
		if !d.https && !p.cfg.AllowPlainHTTPInjection {
			return d, tenant, newError(CodePlainHTTPInjectionRefused,
				"refusing to inject a secret into plain-HTTP destination "+d.authority+"; use https://")
		}
		if p.cfg.ScrubResponses {
			scrub = injector.NewScrubber(rw.Injected())
		}
	}

	// Build the upstream URI: scheme://authority + path and query as sent
	// (or as rewritten), without normalisation.
	st.uri = append(st.uri[:0], d.scheme()...)
	st.uri = append(st.uri, "://"...)
	st.uri = append(st.uri, d.authority...)
	st.uri = append(st.uri, pq...)
	req.SetRequestURIBytes(st.uri)
	req.Header.SetHost(d.authority)
	if scrub != nil {
		limitAcceptEncoding(&req.Header)
	}
	return d, tenant, p.roundTrip(ctx, st, d.authority, scrub)
}

// conflictingFraming reports whether the raw header block holds both
// Content-Length and Transfer-Encoding.
func conflictingFraming(raw []byte) bool {
	var cl, te bool
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		name := bytes.TrimSpace(line[:i])
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			cl = true
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			te = true
		}
	}
	return cl && te
}
