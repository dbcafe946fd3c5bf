package proxy

import (
	"context"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"
)

var connectEstablished = []byte("HTTP/1.1 200 Connection established\r\n\r\n")

// handleConnect authenticates a CONNECT, checks its target, and hands the
// connection to interception or, for passthrough hosts, to a plain tunnel.
// The credential binds the whole tunnel to its tenant.
func (p *Proxy) handleConnect(ctx *fasthttp.RequestCtx) {
	d, tenant, upstream, err := p.prepareConnect(ctx)
	if err != nil {
		code, msg := classify(err)
		writeError(&ctx.Response, code, msg)
		ctx.SetConnectionClose()
		p.m.failed(modeConnect, code)
		if ce := p.log.Check(zap.InfoLevel, "connect refused"); ce != nil {
			ce.Write(zap.String("code", string(code)), zap.String("tenant", tenant.String()),
				zap.String("dest", d.authority), zap.String("reason", msg))
		}
		return
	}
	p.tunnels.open()
	ctx.HijackSetNoResponse(true)
	// The outer server keeps hijacked connections (KeepHijackedConns), so
	// returning from the hijack handler releases its RequestCtx at once
	// rather than holding it for the tunnel's life; the tunnel closes the
	// connection itself.
	if upstream != nil {
		authority := d.authority
		ctx.Hijack(func(c net.Conn) { go p.relay(c, authority, upstream) })
		return
	}
	d.https = true
	tc := &tunnelConn{tenant: tenant, dest: d}
	ctx.Hijack(func(c net.Conn) { go p.intercept(c, tc) })
}

// endTunnel closes a tunnel's client connection and stops counting it.
func (p *Proxy) endTunnel(c net.Conn) {
	p.tunnels.done()
	_ = c.Close()
}

// establish answers the CONNECT on its hijacked connection c; false when
// the client is gone.
func establish(c net.Conn) bool {
	_ = c.SetDeadline(time.Time{})
	_, err := c.Write(connectEstablished)
	return err == nil
}

// relay passes a hijacked CONNECT connection through to its upstream
// untouched until either side ends, then closes both.
func (p *Proxy) relay(c net.Conn, authority string, upstream net.Conn) {
	defer p.endTunnel(c)
	defer upstream.Close() //nolint:errcheck // closing a finished tunnel
	if !p.tunnels.track(c, nil) {
		return
	}
	defer p.tunnels.untrack(c)
	if !establish(c) || !p.tunnels.track(upstream, nil) {
		return
	}
	defer p.tunnels.untrack(upstream)
	p.m.ok(modePassthrough)
	pipe(c, upstream)
	if ce := p.log.Check(zap.DebugLevel, "tunnel closed"); ce != nil {
		ce.Write(zap.String("dest", authority))
	}
}

func (p *Proxy) prepareConnect(ctx *fasthttp.RequestCtx) (dest, secret.Tenant, net.Conn, error) {
	tenant, err := p.auth.tenant(&ctx.Request.Header)
	if err != nil {
		return dest{}, tenant, nil, err
	}
	d, err := parseAuthority(ctx.Request.Header.RequestURI(), true, true)
	if err != nil {
		return d, tenant, nil, err
	}
	if p.tunnels.count.Load() >= int64(p.cfg.MaxConns) {
		return d, tenant, nil, newError(CodeTooManyConnections, "too many open tunnels")
	}
	if p.draining.Load() {
		return d, tenant, nil, newError(CodeTooManyConnections, "the proxy is shutting down")
	}
	dctx, cancel := context.WithTimeout(p.baseCtx, p.cfg.UpstreamTimeout)
	defer cancel()
	if secret.HostAllowed(p.passthrough, d.host) && len(p.passthrough) > 0 {
		up, err := p.guard.dial(dctx, net.JoinHostPort(d.host, d.port), p.cfg.UpstreamTimeout)
		if err != nil {
			return d, tenant, nil, upstreamError(d.authority, err)
		}
		return d, tenant, up, nil
	}
	// Check the destination now, so the client learns at CONNECT time;
	// the upstream client checks again on every dial.
	if _, err := p.guard.resolve(dctx, d.host); err != nil {
		return d, tenant, nil, upstreamError(d.authority, err)
	}
	return d, tenant, nil, nil
}

// pipe copies a passthrough tunnel both ways until either side ends.
func pipe(client, upstream net.Conn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(upstream, client)
		closeWrite(upstream)
	}()
	_, _ = io.Copy(client, upstream)
	// The upstream is done: end the client side too (a hijacked
	// connection cannot half-close), which ends the copy above.
	_ = client.SetReadDeadline(past)
	wg.Wait()
}

// closeWrite half-closes c when it can, else closes it.
func closeWrite(c net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.(closeWriter); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}
