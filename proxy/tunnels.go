package proxy

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// tunnels are the open CONNECT tunnels. They are counted apart from the
// listener's connections (fasthttp stops counting a connection once it is
// hijacked), and their connections are tracked so that a drain can end
// them.
type tunnels struct {
	count atomic.Int64   // from CONNECT to close
	wg    sync.WaitGroup // one per open tunnel
	gauge prometheus.Gauge

	mu    sync.Mutex
	conns map[net.Conn]*tunnelConn // nil value: a passthrough side
	// closing is set (under mu) by closeIdle: no connection is tracked
	// any more, and intercepted ones end when idle.
	closing atomic.Bool
}

func newTunnels(gauge prometheus.Gauge) *tunnels {
	return &tunnels{gauge: gauge, conns: make(map[net.Conn]*tunnelConn)}
}

// open counts a tunnel from its CONNECT; done ends it.
func (t *tunnels) open() {
	t.wg.Add(1)
	t.count.Add(1)
	t.gauge.Inc()
}

func (t *tunnels) done() {
	t.gauge.Dec()
	t.count.Add(-1)
	t.wg.Done()
}

// track records a tunnel's connection (nil tc: a passthrough side) so that
// a drain can end it; false once the tunnels are closing.
func (t *tunnels) track(c net.Conn, tc *tunnelConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing.Load() {
		return false
	}
	t.conns[c] = tc
	return true
}

// intercepted records that the tracked client connection c now carries the
// intercepted connection tc, even while closing: a drain must reach it.
func (t *tunnels) intercepted(c net.Conn, tc *tunnelConn) {
	t.mu.Lock()
	t.conns[c] = tc
	t.mu.Unlock()
}

func (t *tunnels) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// connState follows intercepted connections between requests (the inner
// server's ConnState); once closing, an idle one is ended at once.
func (t *tunnels) connState(c net.Conn, s fasthttp.ConnState) {
	tc, ok := c.(*tunnelConn)
	if !ok {
		return
	}
	idle := s == fasthttp.StateIdle
	tc.idle.Store(idle)
	if idle && t.closing.Load() {
		tc.end()
	}
}

// closeIdle starts the drain of the tunnels: no connection is tracked any
// more, and the intercepted tunnels idle between requests end now (the
// others after their request in flight, through connState).
func (t *tunnels) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing.Store(true)
	t.kick(false)
}

// wait returns when every tunnel has ended, true if they all ended before
// ctx; at ctx's end it ends the rest by force and waits for them.
func (t *tunnels) wait(ctx context.Context) bool {
	ended := make(chan struct{})
	go func() { t.wg.Wait(); close(ended) }()
	select {
	case <-ended:
		return true
	case <-ctx.Done():
	}
	t.mu.Lock()
	t.kick(true)
	t.mu.Unlock()
	<-ended
	return false
}

// kick ends tunnels by expiring their deadlines (a hijacked connection's
// Close is deferred by fasthttp): every tunnel when force is set, else
// only intercepted tunnels idle between requests. t.mu is held.
func (t *tunnels) kick(force bool) {
	for c, tc := range t.conns {
		switch {
		case tc != nil && (force || tc.idle.Load()):
			tc.end()
		case tc == nil && force:
			_ = c.SetDeadline(past)
		}
	}
}
