package proxy

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// handle is the fasthttp handler of both servers (HTTP/1.1): a CONNECT on
// the listener, or one request, absolute-form on the listener or inside an
// intercepted tunnel, handed to the pipeline.
func (p *Proxy) handle(ctx *fasthttp.RequestCtx) {
	tc, _ := ctx.Conn().(*tunnelConn)
	if tc == nil && ctx.IsConnect() {
		p.handleConnect(ctx)
		return
	}
	p.serveH1(ctx, tc)
}

// serveH1 is the HTTP/1.1 adapter: ctx's request and response are the
// exchange's; what is particular to HTTP/1.1 (framing, Connection: close)
// is decided here.
func (p *Proxy) serveH1(ctx *fasthttp.RequestCtx, tc *tunnelConn) {
	x := p.exchanges.get(&ctx.Request, &ctx.Response, tc)
	defer p.exchanges.put(x)
	clientClose := ctx.Request.Header.ConnectionClose()
	var code Code
	if conflictingFraming(ctx.Request.Header.RawHeaders()) {
		// fasthttp lets Transfer-Encoding win; a proxy must refuse the
		// ambiguity (RFC 9112 §6.3), or it smuggles the rest.
		code = p.refuse(x, newError(CodeInvalidRequest, "both Content-Length and Transfer-Encoding are set"))
	} else {
		code = p.serve(x)
	}
	switch {
	case code == CodeInvalidRequest || code == CodeHostNotAllowed && tc == nil:
		// The rest of the connection cannot be trusted to be framed as
		// the client meant.
		ctx.SetConnectionClose()
	case clientClose:
		ctx.Response.SetConnectionClose()
	case tc != nil && p.draining.Load():
		ctx.SetConnectionClose() // the inner server has no listener to stop
	}
}

// handleParseError answers requests fasthttp could not parse: smuggling
// attempts (conflicting framing, CR or LF where none belongs), oversize
// headers and bodies.
func (p *Proxy) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	code := CodeInvalidRequest
	msg := "malformed HTTP request"
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code, msg = CodeBodyTooLarge, fmt.Sprintf("the request body exceeds %d bytes", p.cfg.MaxBodyBytes)
	case errors.As(err, &small):
		code, msg = CodeHeadersTooLarge, fmt.Sprintf("the request line and headers exceed %d bytes", p.cfg.MaxHeaderBytes)
	case isTimeout(err):
		return // nothing useful to answer to a client that went quiet
	}
	p.m.failed(modeOther, code)
	if ce := p.log.Check(zap.InfoLevel, "request refused"); ce != nil {
		ce.Write(zap.String("code", string(code)), zap.String("remote", ctx.RemoteAddr().String()))
	}
	writeError(&ctx.Response, code, msg)
	ctx.SetConnectionClose()
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
