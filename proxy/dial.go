package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// forbiddenError reports a destination refused by the SSRF guard.
type forbiddenError struct {
	host string
	addr netip.Addr
}

func (e *forbiddenError) Error() string {
	if e.addr.IsValid() && e.addr.String() != e.host {
		return fmt.Sprintf("destination %s resolves to %s, a forbidden (loopback, private, link-local or metadata) address", e.host, e.addr)
	}
	return fmt.Sprintf("destination %s is a forbidden (loopback, private, link-local or metadata) address", e.host)
}

// blockedPrefixes are refused in addition to what netip's predicates catch:
// special-purpose ranges that are not global unicast destinations.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT; some metadata services)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: would reach any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("2001::/32"),       // Teredo
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
}

// guard resolves upstream names, refuses forbidden addresses and dials
// exactly the address it checked.
type guard struct {
	allow  []netip.Prefix
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
	dialer net.Dialer
}

func newGuard(allow []netip.Prefix, lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)) *guard {
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	return &guard{allow: allow, lookup: lookup, dialer: net.Dialer{KeepAlive: 30 * time.Second}}
}

// permitted reports whether the guard lets a connection go to addr.
func (g *guard) permitted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range g.allow {
		if p.Contains(addr) {
			return true
		}
	}
	if !addr.IsGlobalUnicast() || addr.IsPrivate() || addr.IsLoopback() ||
		addr.IsLinkLocalUnicast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// resolve returns the permitted addresses of host (a name or an IP
// literal), or a *forbiddenError when there is none.
func (g *guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if !g.permitted(ip) {
			return nil, &forbiddenError{host: host, addr: ip}
		}
		return []netip.Addr{ip.Unmap()}, nil
	}
	addrs, err := g.lookup(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	ok := addrs[:0:0]
	var refused netip.Addr
	for _, a := range addrs {
		if g.permitted(a) {
			ok = append(ok, a.Unmap())
		} else {
			refused = a
		}
	}
	if len(ok) == 0 {
		return nil, &forbiddenError{host: host, addr: refused}
	}
	return ok, nil
}

// dial connects to host:port through the guard within timeout.
func (g *guard) dial(ctx context.Context, hostport string, timeout time.Duration) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", hostport, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("dial %s: invalid port", hostport)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, a := range addrs {
		c, err := g.dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}
