package reliability

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/testupstream"
)

// TestUpstreamFaults sends injecting requests to upstreams that misbehave —
// reset the connection before or after the request, answer too slowly,
// present a certificate no configured CA signed, answer more than the
// scrubber may hold — and checks that each maps to its error (SPEC §4,
// docs/proxy.md), that the proxy stays healthy, and that a good request
// after each fault succeeds. In between, background traffic to a good
// upstream must see no error at all.
func TestUpstreamFaults(t *testing.T) {
	rounds := 1
	if chaosFull() {
		rounds = 25
	}
	e := newEnv(t)
	store := e.store()
	value := e.createToken(store, "api_key")

	var mismatches atomic.Int64
	good := e.newUpstream(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.Header.Get("X-Api-Key") != value {
			mismatches.Add(1)
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	// reset-after-request: reads the request, then resets the connection.
	resetAfter := e.newUpstream(func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "no hijacker", http.StatusInternalServerError)
			return
		}
		c, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
			if raw, ok := tc.NetConn().(*net.TCPConn); ok {
				_ = raw.SetLinger(0)
			}
		}
		_ = c.Close()
	})
	// slow: answers only when the proxy gives up (or after 30 s).
	slow := e.newUpstream(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		_, _ = w.Write([]byte(`{"late":true}`))
	})
	// oversized: 33 MiB, more than the scrubber holds (32 MiB).
	const bigSize = 33 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	big := e.newUpstream(func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/octet-stream")
		for sent := 0; sent < bigSize; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	// untrusted: signed by a CA of its own, which no --upstream-ca names.
	untrusted := testupstream.Start(t, testupstream.Options{})
	resetOnAccept := "https://" + resetListener(t)

	// --upstream-timeout bounds a whole exchange, the 33 MiB streamed answer
	// included: 10 s leaves room for that on a loaded machine (with -race),
	// and is what the slow case waits for.
	p := e.startProxy("proxy", 8, "--upstream-timeout", "10s", "--idle-timeout", "2s")
	send := func(target string, inject bool) outcome {
		req, err := http.NewRequest(http.MethodPost, target+"/v1/messages", strings.NewReader(`{"text":"hello"}`))
		if err != nil {
			return outcome{err: err}
		}
		req.Header.Set("Content-Type", "application/json")
		if inject {
			req.Header.Set("X-Api-Key", "{{secrets.api_key}}")
		} else {
			req.Header.Set("X-Api-Key", "none")
		}
		return p.do(req)
	}
	if o := send(good.URL(), true); o.status != http.StatusOK {
		t.Fatalf("good upstream before the faults: %s", o)
	}
	before, err := p.scrape()
	if err != nil {
		t.Fatal(err)
	}

	bg := startTraffic(2, 20*time.Millisecond, 10*time.Minute, 1_000_000, func() outcome { return send(good.URL(), true) })
	cases := []struct {
		name     string
		target   string
		inject   bool
		status   int
		code     string
		bodySize int // of a 200 answer
	}{
		{"reset on accept", resetOnAccept, true, http.StatusBadGateway, "upstream_unreachable", 0},
		{"reset after the request", resetAfter.URL(), true, http.StatusBadGateway, "upstream_unreachable", 0},
		{"slow response", slow.URL(), true, http.StatusGatewayTimeout, "upstream_timeout", 0},
		{"untrusted certificate", untrusted.URL(), true, http.StatusBadGateway, "upstream_unreachable", 0},
		{"oversized response, injected (scrubbed)", big.URL(), true, http.StatusBadGateway, "upstream_unreachable", 0},
		{"oversized response, not injected (streamed)", big.URL(), false, http.StatusOK, "", bigSize},
	}
	for round := 1; round <= rounds; round++ {
		for _, c := range cases {
			o := send(c.target, c.inject)
			if o.err != nil || o.status != c.status || o.code != c.code {
				t.Fatalf("round %d, %s: %s, want %d %q", round, c.name, o, c.status, c.code)
			}
			if c.status == http.StatusOK && len(o.body) != c.bodySize {
				t.Fatalf("round %d, %s: body of %d bytes, want %d", round, c.name, len(o.body), c.bodySize)
			}
			if c.code != "" && !bytes.Contains(o.body, []byte(`"code":"`+c.code+`"`)) {
				t.Fatalf("round %d, %s: body %q lacks the error code", round, c.name, o.body)
			}
			p.healthy(t)
			if o := send(good.URL(), true); o.status != http.StatusOK {
				t.Fatalf("round %d, good upstream after %s: %s", round, c.name, o)
			}
		}
	}
	bg.stopAllOK(t, "background traffic to the good upstream")
	if n := untrusted.Count(); n != 0 {
		t.Errorf("the untrusted upstream got %d requests; TLS verification must stop them before any byte", n)
	}
	for name, u := range map[string]*testupstream.Server{"good": good, "reset-after": resetAfter, "slow": slow, "big": big} {
		if n := u.Placeholders(); n != 0 {
			t.Errorf("%d placeholders reached the %s upstream", n, name)
		}
	}
	if n := mismatches.Load(); n != 0 {
		t.Errorf("the good upstream got a wrong value %d times", n)
	}

	// No goroutine is left behind by the faults: once idle connections
	// have expired (--idle-timeout 2s), the count comes back near where it
	// was before them.
	p.client.Transport.(*http.Transport).CloseIdleConnections()
	base := before["go_goroutines"]
	var now float64
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := p.scrape()
		if err != nil {
			t.Fatal(err)
		}
		now = m["go_goroutines"]
		if now <= base+16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy goroutines: %v before the faults, still %v a minute after them", base, now)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("proxy goroutines: %v before the faults, %v after; %d rounds of %d faults", base, now, rounds, len(cases))
}
