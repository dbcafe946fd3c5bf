package proxy

import (
	"bytes"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/errcode"
)

// route is the first stage: it decides where x goes and for which tenant
// (the tunnel's binding, or the credential and the absolute URI), checks
// the Host header against the destination, reads the nonce, and strips the
// headers no upstream may see. It sets x.mode, x.dest, x.tenant,
// x.pathQuery and x.nonce.
func (p *Proxy) route(x *exchange) error {
	var err error
	if x.tunnel != nil {
		err = routeTunnel(x)
	} else {
		err = p.routeAbsolute(x)
	}
	if err != nil {
		return err
	}
	d := &x.dest
	if h := x.req.Header.Host(); len(h) > 0 && !d.matchesHostHeader(h) {
		if bytes.Contains(h, []byte("{{")) {
			return newError(CodeInvalidPlaceholder, "a placeholder is not allowed in the Host header")
		}
		return newError(CodeHostNotAllowed, "the Host header does not match the destination "+d.authority)
	}
	pq := x.pathQuery
	if len(pq) == 0 || pq[0] != '/' {
		// "http://h?q" and "http://h" mean path "/".
		x.pq = append(append(x.pq[:0], '/'), pq...)
		pq = x.pq
	}
	if i := bytes.IndexByte(pq, '#'); i >= 0 {
		pq = pq[:i]
	}
	x.pathQuery = pq

	nonce := x.req.Header.Peek(headerSidekeyNonce)
	if len(nonce) > 0 && len(nonce) < minNonceLen {
		return newError(CodeInvalidPlaceholder, "Sidekey-Nonce must be at least 16 characters")
	}
	x.nonce = string(nonce) // copied before the header is stripped
	if sign := x.req.Header.Peek(credential.SignHeader); len(sign) > 0 {
		if len(x.req.Header.PeekAll(credential.SignHeader)) > 1 {
			return newError(errcode.SigningFailed, "a request takes one Sidekey-Sign header")
		}
		x.sign = string(sign)
	}
	stripRequestHeaders(&x.req.Header, x)
	return nil
}

// routeTunnel routes a request inside an intercepted tunnel: the CONNECT
// fixed the destination and the tenant; an absolute URI must name the same
// destination.
func routeTunnel(x *exchange) error {
	tc := x.tunnel
	x.dest, x.tenant = tc.dest, tc.tenant
	uri := x.req.Header.RequestURI()
	x.pathQuery = uri
	if https, authority, rest, ok := splitAbsolute(uri); ok {
		ad, err := parseAuthority(authority, https, false)
		if err != nil {
			return err
		}
		if !https || ad.host != x.dest.host || ad.port != x.dest.port {
			return newError(CodeHostNotAllowed, "the request URI does not match the CONNECT target "+x.dest.authority)
		}
		x.pathQuery = rest
	} else if len(uri) == 0 || uri[0] != '/' {
		return newError(CodeInvalidRequest, "malformed request URI")
	}
	return nil
}

// routeAbsolute routes an absolute-form request on the listener: its own
// credential names the tenant, its URI the destination.
func (p *Proxy) routeAbsolute(x *exchange) error {
	https, authority, rest, ok := splitAbsolute(x.req.Header.RequestURI())
	if !ok {
		return newError(CodeInvalidRequest,
			"not a proxy request: send an absolute-form URI (http:// or https://) or CONNECT")
	}
	x.mode = modeHTTP
	if https {
		x.mode = modeHTTPS
	}
	tenant, err := p.auth.tenant(&x.req.Header)
	if err != nil {
		return err
	}
	x.tenant = tenant
	if x.dest, err = p.dests.parse(authority, https); err != nil {
		return err
	}
	x.pathQuery = rest
	return nil
}
