package reliability

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/testbin"
)

// TestVaultKillRestart kills the dev Vault (SIGKILL) during traffic and
// starts it again on the same address with the same data: cached secrets
// keep flowing within the stale window, a secret no sidecar has read yet is
// store_unavailable (503) and never forwarded, a sidecar whose stale window
// has passed refuses too, and everything recovers without a restart of
// Sidekey. The upstream counts every placeholder reaching it: none may.
func TestVaultKillRestart(t *testing.T) {
	cycles, outage := 1, 3*time.Second
	if chaosFull() {
		cycles, outage = 3, 20*time.Second
	}
	e := newEnv(t)
	store := e.store()
	warmValue := e.createToken(store, "warm_key")

	var mismatches, coldArrived atomic.Int64
	up := e.newUpstream(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if strings.HasPrefix(r.URL.Path, "/cold") {
			coldArrived.Add(1)
		}
		if r.URL.Path == "/warm" && r.Header.Get("X-Api-Key") != warmValue {
			mismatches.Add(1)
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	// A short TTL makes every warm read go back to Vault during the
	// outage; the stale window is longer than any outage here.
	p := e.startProxy("proxy", 8, "--cache-ttl", "500ms", "--max-stale", "10m", "--vault-timeout", "2s")
	// The same, with a stale window shorter than the outage.
	short := e.startProxy("proxy-short-stale", 2, "--cache-ttl", "500ms", "--max-stale", "1s", "--vault-timeout", "2s")

	send := func(pp *proxyProc, path, alias string) outcome {
		req, err := http.NewRequest(http.MethodPost, up.URL()+path, strings.NewReader(`{"n":1}`))
		if err != nil {
			return outcome{err: err}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", "{{secrets."+alias+"}}")
		return pp.do(req)
	}
	for _, pp := range []*proxyProc{p, short} {
		if o := send(pp, "/warm", "warm_key"); o.status != http.StatusOK {
			t.Fatalf("%s: first warm request: %s", pp.Name, o)
		}
	}

	tr := startTraffic(4, 10*time.Millisecond, time.Duration(cycles)*(outage+2*time.Minute), 1_000_000,
		func() outcome { return send(p, "/warm", "warm_key") })
	var coldRefused int
	for cycle := 1; cycle <= cycles; cycle++ {
		// A secret no sidecar has read yet: nothing to serve while Vault
		// is down.
		cold := fmt.Sprintf("cold_%d", cycle)
		e.createToken(store, cold)
		coldPath := "/" + cold
		before := tr.count()
		e.vault.Kill(t)
		killed := time.Now()
		// The cold secret: never read, so nothing to serve.
		if o := send(p, coldPath, cold); o.status != http.StatusServiceUnavailable || o.code != "store_unavailable" {
			t.Fatalf("cycle %d: cold secret with Vault down: %s, want 503 store_unavailable", cycle, o)
		}
		coldRefused++
		time.Sleep(outage - time.Since(killed))
		// Past the short sidecar's stale window: it refuses its warm secret.
		if o := send(short, "/warm-short", "warm_key"); o.status != http.StatusServiceUnavailable || o.code != "store_unavailable" {
			t.Fatalf("cycle %d: warm secret past --max-stale: %s, want 503 store_unavailable", cycle, o)
		}
		if o := send(p, coldPath, cold); o.status != http.StatusServiceUnavailable || o.code != "store_unavailable" {
			t.Fatalf("cycle %d: cold secret after %v down: %s, want 503 store_unavailable", cycle, outage, o)
		}
		coldRefused++
		during := tr.count() - before
		if during == 0 {
			t.Fatalf("cycle %d: no warm request completed during the outage", cycle)
		}
		e.vault.Restart(t)
		t.Logf("cycle %d: Vault down for %v; %d warm requests completed meanwhile", cycle, time.Since(killed).Round(time.Millisecond), during)

		// Recovery, without touching Sidekey: the cold secret resolves,
		// and the short-stale sidecar serves again.
		for _, c := range []struct {
			pp          *proxyProc
			path, alias string
		}{{p, coldPath, cold}, {short, "/warm-short", "warm_key"}} {
			deadline := time.Now().Add(60 * time.Second)
			for {
				o := send(c.pp, c.path, c.alias)
				if o.status == http.StatusOK {
					break
				}
				if o.status != http.StatusServiceUnavailable || o.code != "store_unavailable" {
					t.Fatalf("cycle %d: %s %s after the restart: %s, want 200 (or 503 until it recovers)", cycle, c.pp.Name, c.alias, o)
				}
				if time.Now().After(deadline) {
					t.Fatalf("cycle %d: %s did not recover within 60s of the restart: %s", cycle, c.pp.Name, o)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	tr.stopAllOK(t, "warm traffic")
	if n := mismatches.Load(); n != 0 {
		t.Errorf("the upstream got a wrong warm value %d times", n)
	}
	if n := up.Placeholders(); n != 0 {
		t.Errorf("%d placeholders reached the upstream unresolved", n)
	}
	m, err := p.scrape()
	if err != nil {
		t.Fatal(err)
	}
	if m["sidekey_cache_stale_served_total"] == 0 {
		t.Errorf("sidekey_cache_stale_served_total is 0: the warm secret was never served stale, so the outage was not exercised")
	}
	t.Logf("cache: stale_served %v, unavailable %v, vault_reads %v, feed_errors %v; cold refusals %d",
		m["sidekey_cache_stale_served_total"], m["sidekey_cache_unavailable_total"],
		m["sidekey_cache_vault_reads_total"], m["sidekey_cache_feed_errors_total"], coldRefused)
	for _, pp := range []*proxyProc{p, short} {
		pp.healthy(t)
		if s, err := testbin.GetStatus("http://" + pp.metrics + "/readyz"); err != nil || s != http.StatusOK {
			t.Errorf("%s /readyz after recovery: %d %v", pp.Name, s, err)
		}
	}
	if n := coldArrived.Load(); n != int64(cycles) {
		t.Errorf("the upstream got the cold secret's request %d times, want %d (once per recovery, never while refused)", n, cycles)
	}
}
