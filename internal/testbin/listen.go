package testbin

import (
	"net"
	"testing"
)

// Listen returns a TCP listener on a free loopback port, closed when the
// test ends (closing it earlier, or handing it to a server that closes it,
// is fine).
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testbin: listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}
