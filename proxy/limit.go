package proxy

import (
	"encoding/json"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// Connection limit: the listener itself refuses a client connection over
// Config.MaxConns with the proxy's JSON error (503, Sidekey-Error:
// too_many_connections), rather than fasthttp's plain-text 503. Tunnels
// are counted apart (handleConnect), as fasthttp stops counting a
// connection once it is hijacked.
const (
	// rejectWriteTimeout bounds writing the refusal, on the accept loop.
	rejectWriteTimeout = 100 * time.Millisecond
	// maxLingeringRejects bounds the refused connections closed with a
	// lingering close at once; past it they are closed at once.
	maxLingeringRejects = 64
)

type limitListener struct {
	net.Listener
	p         *Proxy
	refusal   []byte
	lingering chan struct{}
}

func (p *Proxy) newLimitListener(ln net.Listener) *limitListener {
	var b errorBody
	b.Error.Code = CodeTooManyConnections
	b.Error.Message = "the proxy serves " + strconv.Itoa(p.cfg.MaxConns) + " client connections at most; retry later"
	body, _ := json.Marshal(b) //nolint:errchkjson // two strings always marshal
	body = append(body, '\n')
	status := CodeTooManyConnections.Status()
	head := "HTTP/1.1 " + strconv.Itoa(status) + " " + fasthttp.StatusMessage(status) + "\r\n" +
		headerSidekeyError + ": " + string(CodeTooManyConnections) + "\r\n" +
		"Content-Type: application/json\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	return &limitListener{
		Listener:  ln,
		p:         p,
		refusal:   append([]byte(head), body...),
		lingering: make(chan struct{}, maxLingeringRejects),
	}
}

// Accept returns the next connection while fewer than MaxConns are open,
// and refuses the others itself.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		// fasthttp counts a connection from its accept loop, the only
		// caller of Accept, until it is served or hijacked.
		if int(l.p.outer.GetOpenConnectionsCount()) < l.p.cfg.MaxConns {
			return withLinger(c), nil
		}
		l.reject(c)
	}
}

func (l *limitListener) reject(c net.Conn) {
	l.p.m.failed(modeOther, CodeTooManyConnections)
	if ce := l.p.log.Check(zap.DebugLevel, "connection refused"); ce != nil {
		ce.Write(zap.String("code", string(CodeTooManyConnections)), zap.String("remote", c.RemoteAddr().String()))
	}
	_ = c.SetWriteDeadline(time.Now().Add(rejectWriteTimeout))
	if _, err := c.Write(l.refusal); err != nil {
		_ = c.Close()
		return
	}
	select {
	case l.lingering <- struct{}{}:
		go func() {
			defer func() { <-l.lingering }()
			_ = withLinger(c).Close()
		}()
	default:
		_ = c.Close()
	}
}
