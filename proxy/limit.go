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

// limitListener accepts the connections of srv while fewer than maxConns
// are open, and refuses the others itself.
type limitListener struct {
	net.Listener
	srv       *fasthttp.Server
	maxConns  int
	m         *metrics
	log       *zap.Logger
	refusal   []byte
	lingering chan struct{}
}

func newLimitListener(ln net.Listener, srv *fasthttp.Server, maxConns int, m *metrics, log *zap.Logger) *limitListener {
	var b errorBody
	b.Error.Code = CodeTooManyConnections
	b.Error.Message = "the proxy serves " + strconv.Itoa(maxConns) + " client connections at most; retry later"
	body, _ := json.Marshal(b) //nolint:errchkjson // two strings always marshal
	body = append(body, '\n')
	status := CodeTooManyConnections.Status()
	head := "HTTP/1.1 " + strconv.Itoa(status) + " " + fasthttp.StatusMessage(status) + "\r\n" +
		headerSidekeyError + ": " + string(CodeTooManyConnections) + "\r\n" +
		"Content-Type: application/json\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	return &limitListener{
		Listener:  ln,
		srv:       srv,
		maxConns:  maxConns,
		m:         m,
		log:       log,
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
		if int(l.srv.GetOpenConnectionsCount()) < l.maxConns {
			return withLinger(c), nil
		}
		l.reject(c)
	}
}

func (l *limitListener) reject(c net.Conn) {
	l.m.failed(modeOther, CodeTooManyConnections)
	if ce := l.log.Check(zap.DebugLevel, "connection refused"); ce != nil {
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
