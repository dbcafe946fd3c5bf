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

// intercept terminates TLS on c with a leaf certificate for the CONNECT
// target and serves the requests inside with the inner server.
func (p *Proxy) intercept(c net.Conn, d dest, tenant secret.Tenant) {
	d.https = true
	tc := tls.Server(&targetConn{Conn: c, host: d.host}, p.tlsConfig)
	_ = c.SetDeadline(time.Now().Add(p.cfg.ReadTimeout))
	// The handshake runs on a goroutine of its own: its crypto grows a
	// stack to 16 KiB, which the connection's long-lived serving goroutine
	// would otherwise keep while idle. A tunnel whose requests need no
	// deeper stack then idles on 8 KiB (docs/BENCHMARKS.md, Proxy).
	hs := make(chan error, 1)
	go func() { hs <- tc.HandshakeContext(p.baseCtx) }()
	if err := <-hs; err != nil {
		p.m.failed(modeConnect, "tls_handshake_failed")
		if ce := p.log.Check(zap.InfoLevel, "tls handshake failed"); ce != nil {
			ce.Write(zap.String("dest", d.authority), zap.String("tenant", tenant.String()), zap.Error(err))
		}
		return
	}
	_ = c.SetDeadline(time.Time{})
	conn := &tunnelConn{Conn: tc, tenant: tenant, dest: d, raw: c}
	p.tunnels.intercepted(c, conn)
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		p.serveH2(conn)
		return
	}
	_ = p.inner.ServeConn(conn)
}
