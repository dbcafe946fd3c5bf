package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/sidekey/sidekey/injector"
)

func isForm(contentType []byte) bool {
	return len(contentType) >= 33 && bytes.EqualFold(contentType[:33], []byte("application/x-www-form-urlencoded"))
}

// injection rewrites one request's placeholders. The Rewriter is made only
// when some part holds "{{" (or the body is encoded), so requests without
// placeholders never touch the injector or the store.
type injection struct {
	p       *Proxy
	x       *exchange
	counted int // the rewriter's replacements already counted by location
}

func (in *injection) rewriter() *injector.Rewriter {
	x := in.x
	if x.rw == nil {
		x.tr = tenantResolver{r: in.p.cfg.Resolver, t: x.tenant, m: in.p.m, creds: in.p.creds}
		x.rw = injector.NewRewriter(in.p.baseCtx, &x.tr, injector.Options{Host: x.dest.host, Nonce: x.nonce, MaxBodySize: in.p.cfg.MaxBodyBytes})
	}
	return x.rw
}

// count adds the replacements not counted yet, made by the last rewrite,
// to the location's metric.
func (in *injection) count(loc location) {
	n := in.x.rw.Replaced()
	if n > in.counted {
		in.p.m.injections[loc].Add(float64(n - in.counted))
		in.counted = n
	}
}

// inject is the second stage: it rewrites the placeholders of the path and
// query (x.pathQuery), the headers and the body in place, then refuses a
// value bound for plain HTTP and prepares the response scrubber.
func (p *Proxy) inject(x *exchange) error {
	in := injection{p: p, x: x}
	pq, err := in.pathQuery(x.pathQuery)
	if err != nil {
		return err
	}
	x.pathQuery = pq
	if err := in.headers(&x.req.Header); err != nil {
		return err
	}
	if err := in.body(x.req); err != nil {
		return err
	}
	if x.rw == nil || x.rw.Replaced() == 0 {
		return nil
	}
	if !x.dest.https && !p.cfg.AllowPlainHTTPInjection {
		return newError(CodePlainHTTPInjectionRefused,
			"refusing to inject a secret into plain-HTTP destination "+x.dest.authority+"; use https://")
	}
	if p.cfg.ScrubResponses {
		x.scrub = injector.NewScrubber(x.rw.Injected())
	}
	return nil
}

func (in *injection) pathQuery(pq []byte) ([]byte, error) {
	if !injector.MayHoldPlaceholder(pq, true) {
		return pq, nil
	}
	path, query := pq, []byte(nil)
	hasQuery := false
	if i := bytes.IndexByte(pq, '?'); i >= 0 {
		path, query, hasQuery = pq[:i], pq[i+1:], true
	}
	rw := in.rewriter()
	var err error
	if injector.MayHoldPlaceholder(path, true) {
		if path, err = rw.Path(path); err != nil {
			return nil, err
		}
		in.count(locPath)
	}
	if injector.MayHoldPlaceholder(query, true) {
		if query, err = rw.Query(query); err != nil {
			return nil, err
		}
		in.count(locQuery)
	}
	out := make([]byte, 0, len(path)+1+len(query))
	out = append(out, path...)
	if hasQuery {
		out = append(out, '?')
		out = append(out, query...)
	}
	return out, nil
}

// headers rewrites the placeholders of the header values in h, and refuses
// one in a header name. The loops over h are in functions of their own:
// fasthttp's header iterator, inlined, makes a large stack frame, which
// would otherwise stay below the resolution of every value.
func (in *injection) headers(h *fasthttp.RequestHeader) error {
	if !headersMayHold(h) {
		return nil
	}
	// Copy every header, rewrite those with placeholders, and put them back
	// in order (a name may repeat).
	st := in.x
	copyHeaders(st, h)
	rw := in.rewriter()
	changed := false
	for i := range st.kvs {
		kv := &st.kvs[i]
		if injector.MayHoldPlaceholder(kv.k, false) {
			if err := rw.CheckHeaderName(kv.k); err != nil {
				return err
			}
			return newError(CodeInvalidPlaceholder, "a placeholder is not allowed in a header name")
		}
		if !injector.MayHoldPlaceholder(kv.v, false) {
			continue
		}
		nv, err := rw.Header(kv.k, kv.v)
		if err != nil {
			return err
		}
		in.count(locHeader)
		if !bytes.Equal(nv, kv.v) {
			kv.v = nv
			changed = true
		}
	}
	if changed {
		replaceHeaders(h, st.kvs)
	}
	return nil
}

// headersMayHold reports whether a header name or value in h may hold a
// placeholder.
func headersMayHold(h *fasthttp.RequestHeader) bool {
	for k, v := range h.All() {
		if injector.MayHoldPlaceholder(v, false) || injector.MayHoldPlaceholder(k, false) {
			return true
		}
	}
	return false
}

// copyHeaders copies the headers of h into x.kvs, their bytes into
// x.hdrBuf.
func copyHeaders(x *exchange, h *fasthttp.RequestHeader) {
	x.hdrBuf = x.hdrBuf[:0]
	for k, v := range h.All() {
		// Slices into x.hdrBuf stay valid when it grows: they keep the
		// old array, which holds the same bytes.
		ks := len(x.hdrBuf)
		x.hdrBuf = append(x.hdrBuf, k...)
		vs := len(x.hdrBuf)
		x.hdrBuf = append(x.hdrBuf, v...)
		x.kvs = append(x.kvs, headerKV{k: x.hdrBuf[ks:vs:vs], v: x.hdrBuf[vs:len(x.hdrBuf):len(x.hdrBuf)]})
	}
}

// replaceHeaders replaces the headers of h with kvs, in their order,
// without Content-Length (recomputed from the body).
func replaceHeaders(h *fasthttp.RequestHeader, kvs []headerKV) {
	for i := range kvs {
		h.DelBytes(kvs[i].k)
	}
	for i := range kvs {
		kv := &kvs[i]
		if bytes.EqualFold(kv.k, []byte(fasthttp.HeaderContentLength)) {
			continue
		}
		h.AddBytesKV(kv.k, kv.v)
	}
}

func (in *injection) body(req *fasthttp.Request) error {
	body := req.Body()
	if len(body) == 0 {
		return nil
	}
	ce := req.Header.ContentEncoding()
	encoded := len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity"))
	if !encoded && !injector.MayHoldPlaceholder(body, isForm(req.Header.ContentType())) {
		return nil
	}
	rw := in.rewriter()
	nb, err := rw.Body(body, req.Header.ContentType(), ce)
	if err != nil {
		return err
	}
	in.count(locBody)
	if len(nb) != len(body) || (len(nb) > 0 && &nb[0] != &body[0]) {
		req.SetBody(nb)
	}
	return nil
}
