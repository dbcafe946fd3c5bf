package proxy

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestGuardPermitted(t *testing.T) {
	g := newGuard([]netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}, nil)
	tests := []struct {
		addr string
		want bool
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1:248:1893:25c8:1946", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"10.0.0.1", false},
		{"10.20.3.4", true}, // allowed by CIDR
		{"172.16.5.5", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.100.100.200", false}, // CGNAT (Alibaba metadata)
		{"0.0.0.0", false},
		{"::", false},
		{"fd00:ec2::254", false},          // ULA (AWS IPv6 metadata)
		{"fe80::1", false},                // link-local
		{"::ffff:127.0.0.1", false},       // IPv4-mapped loopback
		{"64:ff9b::7f00:1", false},        // NAT64 of 127.0.0.1
		{"2002:7f00:1::1", false},         // 6to4 of 127.0.0.1
		{"224.0.0.1", false},              // multicast
		{"255.255.255.255", false},        // broadcast
		{"198.18.0.1", false},             // benchmarking
		{"::ffff:93.184.216.34", true},    // IPv4-mapped public
		{"2001:db8::1", false},            // documentation
		{"100.63.255.255", true},          // just below CGNAT
		{"192.0.2.10", false},             // TEST-NET-1
		{"203.0.113.7", false},            // TEST-NET-3
		{"240.0.0.1", false},              // reserved
		{"2001:4860:4860::8888", true},    // public v6
		{"ff02::1", false},                // v6 multicast
		{"fc00::1", false},                // ULA
		{"::ffff:169.254.169.254", false}, // mapped metadata
	}
	for _, tc := range tests {
		if got := g.permitted(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("permitted(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestGuardResolve checks that a name is refused when every address it
// resolves to is forbidden, and that only permitted addresses are dialled.
func TestGuardResolve(t *testing.T) {
	lookup := func(_ context.Context, _, host string) ([]netip.Addr, error) {
		switch host {
		case "rebind.example":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("169.254.169.254")}, nil
		case "mixed.example":
			return []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("93.184.216.34")}, nil
		}
		return nil, errors.New("no such host")
	}
	g := newGuard(nil, lookup)
	var fe *forbiddenError
	if _, err := g.resolve(context.Background(), "rebind.example"); !errors.As(err, &fe) {
		t.Fatalf("rebind.example: %v, want forbidden", err)
	}
	addrs, err := g.resolve(context.Background(), "mixed.example")
	if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("93.184.216.34") {
		t.Fatalf("mixed.example: %v %v, want only the public address", addrs, err)
	}
	if _, err := g.dial(context.Background(), "rebind.example:443", 0); !errors.As(err, &fe) {
		t.Fatalf("dial rebind.example: %v, want forbidden", err)
	}
}
