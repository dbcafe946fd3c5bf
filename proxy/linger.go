package proxy

import (
	"io"
	"net"
	"time"
)

// Lingering close: when the proxy refuses a request before reading its
// body (413, 400) and closes, unread bytes in the socket would make the
// kernel send a reset that can destroy the error response before the
// client reads it. Like net/http, the proxy half-closes, drains what the
// client still sends for a short while, and then closes.
const (
	lingerTimeout = 250 * time.Millisecond
	lingerMax     = 1 << 20
)

// withLinger gives TCP connections a lingering Close.
func withLinger(c net.Conn) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		return &lingerConn{TCPConn: tc}
	}
	return c
}

type lingerConn struct{ *net.TCPConn }

// Close half-closes, drains briefly, then closes.
func (c *lingerConn) Close() error {
	if err := c.CloseWrite(); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.CopyN(io.Discard, c.TCPConn, lingerMax)
	}
	return c.TCPConn.Close()
}
