package proxy

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"
)

// tunnelConn is an intercepted TLS connection with what the CONNECT bound
// to it. The handler finds it through RequestCtx.Conn.
type tunnelConn struct {
	*tls.Conn
	tenant secret.Tenant
	dest   dest
	raw    net.Conn    // the hijacked client connection
	idle   atomic.Bool // between requests (set by the inner server's ConnState)
	ended  atomic.Bool // kicked by a drain: every deadline is in the past
}

var past = time.Unix(1, 0)

// end makes every pending and future read or write fail, which ends the
// inner server's loop on this connection.
func (tc *tunnelConn) end() {
	tc.ended.Store(true)
	_ = tc.raw.SetDeadline(past)
}

// SetDeadline keeps an ended connection's deadline in the past (the inner
// server sets its idle deadline after each request).
func (tc *tunnelConn) SetDeadline(t time.Time) error {
	if tc.ended.Load() {
		t = past
	}
	return tc.Conn.SetDeadline(t)
}

// SetReadDeadline: see SetDeadline.
func (tc *tunnelConn) SetReadDeadline(t time.Time) error {
	if tc.ended.Load() {
		t = past
	}
	return tc.Conn.SetReadDeadline(t)
}

// targetConn carries a tunnel's CONNECT host to forHello, so that
// every intercepted connection shares one tls.Config.
type targetConn struct {
	net.Conn
	host string
}

// newInterceptConfig is the TLS configuration of intercepted connections,
// presenting leaves from l.
func newInterceptConfig(l *leafCache) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// HTTP/2 is served by golang.org/x/net/http2 (serveH2), HTTP/1.1
		// by fasthttp (the inner server).
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: l.forHello,
	}
}

// forHello answers a client hello on an intercepted connection with the
// leaf of its CONNECT target, refusing a server name that is not that
// target.
func (l *leafCache) forHello(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	tc, ok := hello.Conn.(*targetConn)
	if !ok {
		return nil, errors.New("not an intercepted connection")
	}
	if hello.ServerName != "" && !strings.EqualFold(strings.TrimSuffix(hello.ServerName, "."), tc.host) {
		return nil, errors.New("the TLS server name does not match the CONNECT target")
	}
	return l.get(tc.host)
}

// intercept serves an intercepted CONNECT tunnel on the hijacked client
// connection c until it ends, then closes c: TLS is terminated with a leaf
// certificate for the CONNECT target, and the requests inside are served
// over HTTP/2 or HTTP/1.1, as the client chose in ALPN.
//
// This goroutine serves the tunnel for its whole life, and an idle tunnel
// keeps its stack. The stack stays at 8 KiB while a request's deepest
// usual path (a header value resolved through the cache) fits in 8 KiB,
// and while the idle stack, from here down to the TLS read, is less than a
// quarter of 16 KiB, so that the garbage collector halves a stack that a
// deeper request grew. Hence this function's own frame is small: the
// CONNECT answer and the TLS handshake are in handshake, which returns
// before the serving starts. TestIdleInterceptedConns checks the budget.
func (p *Proxy) intercept(c net.Conn, tc *tunnelConn) {
	defer p.endTunnel(c)
	if !p.tunnels.track(c, nil) {
		return
	}
	defer p.tunnels.untrack(c)
	h2, ok := p.handshake(c, tc)
	if !ok {
		return
	}
	p.tunnels.intercepted(c, tc)
	if h2 {
		p.serveH2(tc)
		return
	}
	_ = p.inner.ServeConn(tc)
}

// handshake answers the CONNECT and terminates TLS on c with the leaf of
// tc's destination, leaving the TLS connection in tc. h2 reports that the
// client chose HTTP/2 in ALPN; !ok that the tunnel ends (the client left
// or the handshake failed, which is counted and logged).
func (p *Proxy) handshake(c net.Conn, tc *tunnelConn) (h2, ok bool) {
	if !establish(c) {
		return false, false
	}
	conn := tls.Server(&targetConn{Conn: c, host: tc.dest.host}, p.tlsConfig)
	_ = c.SetDeadline(time.Now().Add(p.cfg.ReadTimeout))
	// The handshake runs on a goroutine of its own: its crypto grows a
	// stack to 16 KiB, which the tunnel's long-lived goroutine would
	// otherwise keep while idle (docs/BENCHMARKS.md, "Idle intercepted connections").
	hs := make(chan error, 1)
	go func() { hs <- conn.HandshakeContext(p.baseCtx) }()
	if err := <-hs; err != nil {
		p.m.failed(modeConnect, "tls_handshake_failed")
		if ce := p.log.Check(zap.InfoLevel, "tls handshake failed"); ce != nil {
			ce.Write(zap.String("dest", tc.dest.authority), zap.String("tenant", tc.tenant.String()), zap.Error(err))
		}
		return false, false
	}
	_ = c.SetDeadline(time.Time{})
	tc.Conn, tc.raw = conn, c
	return conn.ConnectionState().NegotiatedProtocol == "h2", true
}
