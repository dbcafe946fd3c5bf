package proxy

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/errcode"
	"github.com/sidekey/sidekey/internal/secret"
)

// sign is the stage between inject and send: when the request carried a
// Sidekey-Sign directive (route kept it and stripped the header), it signs
// the request exactly as it will be sent — path, query, headers and body
// after injection — with the named secret, and sets the signature headers.
func (p *Proxy) sign(x *exchange) error {
	if x.sign == "" {
		return nil
	}
	d, err := credential.ParseDirective(x.sign)
	if err != nil {
		return newError(errcode.SigningFailed, err.Error())
	}
	if p.creds == nil {
		return newError(errcode.SigningFailed, "request signing is not available")
	}
	tr := tenantResolver{r: p.cfg.Resolver, t: x.tenant, m: p.m}
	sec, err := tr.Resolve(p.baseCtx, d.Alias)
	if err != nil {
		code := errcode.StoreUnavailable
		if errors.Is(err, secret.ErrNotFound) {
			code = errcode.SecretNotFound
		}
		return &proxyError{code: code, msg: "Sidekey-Sign: secret " + d.Alias + " cannot be used", err: err}
	}
	if !secret.HostAllowed(sec.AllowedHosts, x.dest.host) {
		return newError(errcode.HostNotAllowed, "host "+x.dest.host+" is not in the allowed_hosts of "+d.Alias)
	}
	if !x.dest.https && !p.cfg.AllowPlainHTTPInjection {
		return newError(CodePlainHTTPInjectionRefused,
			"refusing to sign for plain-HTTP destination "+x.dest.authority+"; use https://")
	}
	req := signingRequest(x)
	edits, err := p.creds.Sign(p.baseCtx, credential.SignRequest{
		Directive: d, Type: sec.Type, Kind: credential.Kind(sec.Kind), Object: sec.Value.JSON,
	}, req)
	if err != nil {
		ie := credentialError(err)
		return &proxyError{code: ie.Code, msg: "Sidekey-Sign (" + d.Alias + "): " + ie.Detail, err: err}
	}
	h := &x.req.Header
	for _, name := range edits.Del {
		h.Del(name)
	}
	for _, f := range edits.Set {
		h.Set(f.Name, f.Value)
	}
	return nil
}

// signingRequest describes x as send will put it on the wire: the Host
// header is the destination's authority, the path and query x.pathQuery,
// the body the (rewritten) body.
func signingRequest(x *exchange) *credential.Request {
	path, query := x.pathQuery, []byte(nil)
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	r := &credential.Request{
		Method: string(x.req.Header.Method()),
		Host:   x.dest.authority,
		Path:   string(path),
		Query:  string(query),
		Header: make(http.Header, x.req.Header.Len()),
		Body:   x.req.Body(),
	}
	for k, v := range x.req.Header.All() {
		if bytes.EqualFold(k, []byte("Host")) || bytes.EqualFold(k, []byte("Content-Length")) {
			continue
		}
		name := http.CanonicalHeaderKey(string(k))
		r.Header[name] = append(r.Header[name], string(v))
	}
	return r
}
