package reliability

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/testbin"
)

// soakBody is the notification the soak sends (as the bench harness does):
// two placeholders in a JSON body, one more in a header.
const soakBody = `{"from":"sidekey-soak","to":"+15550100123","account":"{{secrets.soak_account.username}}",` +
	`"auth":"{{secrets.soak_account.password}}","text":"Your verification code is 424242."}`

// sample is one interval of the soak.
type sample struct {
	at         time.Duration // end of the interval, since the start
	requests   int
	errors     int
	p50, p99   time.Duration
	goroutines float64 // the proxy's go_goroutines
	rss        float64 // the proxy's process_resident_memory_bytes
}

// soakDuration reads SIDEKEY_SOAK_DURATION ("10m", "600s" or "600"),
// default 5 s.
func soakDuration(t *testing.T) time.Duration {
	v := os.Getenv(envSoakDuration)
	if v == "" {
		return 5 * time.Second
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration such as 10m", envSoakDuration, v)
	}
	return d
}

// TestSoak keeps injecting traffic flowing through the proxy (CONNECT, TLS
// interception, three placeholders per request) for SIDEKEY_SOAK_DURATION,
// sampling throughput, latency and the proxy's goroutines and RSS. Every
// request must succeed with the right values at the upstream, and the
// goroutine count and memory must stay flat after the warm-up.
func TestSoak(t *testing.T) {
	duration := soakDuration(t)
	interval := 500 * time.Millisecond
	if duration >= 2*time.Minute {
		interval = 5 * time.Second
	}
	const workers = 8

	e := newEnv(t)
	store := e.store()
	token := e.createToken(store, "soak_key")
	user, pass := testbin.RandomString(t, "user-"), testbin.RandomString(t, "pass-")
	if _, err := store.Create(t.Context(), tenant, secret.CreateInput{
		Alias: "soak_account", Type: secret.TypeUsernamePassword,
		Value: secret.Value{Username: user, Password: pass}, Actor: "reliability",
	}); err != nil {
		t.Fatal(err)
	}
	wantBody := []byte(strings.NewReplacer("{{secrets.soak_account.username}}", user, "{{secrets.soak_account.password}}", pass).Replace(soakBody))
	var wrong atomic.Int64
	up := e.newUpstream(func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("X-Api-Key") != token || !bytes.Equal(body, wantBody) {
			wrong.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"msg-1","status":"queued"}`))
	})
	p := e.startProxy("proxy", workers)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		errKinds  = map[string]int{}
	)
	send := func() outcome {
		req, err := http.NewRequest(http.MethodPost, up.URL()+"/v1/messages", strings.NewReader(soakBody))
		if err != nil {
			return outcome{err: err}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", "{{secrets.soak_key}}")
		start := time.Now()
		o := p.do(req)
		took := time.Since(start)
		mu.Lock()
		if o.err != nil || o.status != http.StatusOK {
			errs++
			errKinds[o.String()]++
		} else {
			latencies = append(latencies, took)
		}
		mu.Unlock()
		return o
	}
	// Warm the cache and the connections before the clock starts.
	for range workers {
		if o := send(); o.status != http.StatusOK {
			t.Fatalf("first request: %s", o)
		}
	}
	mu.Lock()
	latencies, errs = nil, 0
	mu.Unlock()

	m0, err := p.scrape()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	tr := startTraffic(workers, 0, duration, 100_000_000, send)
	var samples []sample
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for range tick.C {
		mu.Lock()
		lat, n := latencies, errs
		latencies, errs = make([]time.Duration, 0, len(lat)), 0
		mu.Unlock()
		s := sample{at: time.Since(started), requests: len(lat), errors: n}
		if len(lat) > 0 {
			slices.Sort(lat)
			s.p50, s.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
		}
		m, err := p.scrape()
		if err != nil {
			t.Errorf("scrape at %v: %v", s.at, err)
		}
		s.goroutines, s.rss = m["go_goroutines"], m["process_resident_memory_bytes"]
		samples = append(samples, s)
		if s.at >= duration {
			break
		}
	}
	tally := tr.stop()
	elapsed := time.Since(started)

	total, failed := 0, 0
	for _, s := range samples {
		total += s.requests
		failed += s.errors
	}
	t.Logf("soak: %v, %d workers, %d requests (%.0f/s), outcomes: %s", elapsed.Round(time.Second), workers, total,
		float64(total)/elapsed.Seconds(), describeTally(tally))
	if failed != 0 || len(tally) != 1 {
		mu.Lock()
		t.Errorf("%d requests failed: %s", failed, describeTally(errKinds))
		mu.Unlock()
	}
	if total == 0 {
		t.Fatal("no request completed")
	}
	if n := up.Placeholders(); n != 0 {
		t.Errorf("%d placeholders reached the upstream", n)
	}
	// The proxy itself counted them: intercepted (CONNECT + TLS) and
	// injected, three placeholders each.
	m1, err := p.scrape()
	if err != nil {
		t.Fatal(err)
	}
	intercepted := m1[`sidekey_proxy_requests_total{code="ok",mode="intercepted"}`] - m0[`sidekey_proxy_requests_total{code="ok",mode="intercepted"}`]
	injected := m1[`sidekey_proxy_injections_total{location="header"}`] + m1[`sidekey_proxy_injections_total{location="body"}`] -
		m0[`sidekey_proxy_injections_total{location="header"}`] - m0[`sidekey_proxy_injections_total{location="body"}`]
	t.Logf("proxy counted %.0f intercepted requests and %.0f injections", intercepted, injected)
	if intercepted < float64(total) || injected < 3*float64(total) {
		t.Errorf("the proxy counted %.0f intercepted requests and %.0f injections for %d requests", intercepted, injected, total)
	}
	if n := wrong.Load(); n != 0 {
		t.Errorf("the upstream got %d requests with a wrong value or body", n)
	}
	p.healthy(t)

	// Flat: after the first fifth (the warm-up), goroutines never climb
	// more than a little above the warm-up's peak, and the RSS of the last
	// quarter stays within half again (plus 32 MiB) of the first quarter
	// after the warm-up. A leak of one goroutine or a few KiB per request
	// breaks both by orders of magnitude over a soak.
	warm := max(1, len(samples)/5)
	if len(samples) > warm+1 {
		rest := samples[warm:]
		var warmG float64
		for _, s := range samples[:warm] {
			warmG = max(warmG, s.goroutines)
		}
		var restG float64
		for _, s := range rest {
			restG = max(restG, s.goroutines)
		}
		q := max(1, len(rest)/4)
		early, late := medianRSS(rest[:q]), medianRSS(rest[len(rest)-q:])
		t.Logf("proxy goroutines: warm-up peak %.0f, peak after %.0f; RSS median %.1f MiB early, %.1f MiB late",
			warmG, restG, early/(1<<20), late/(1<<20))
		if restG > warmG+20 {
			t.Errorf("proxy goroutines grew from %.0f to %.0f during the soak", warmG, restG)
		}
		if late > 1.5*early+32<<20 {
			t.Errorf("proxy RSS grew from %.1f MiB to %.1f MiB during the soak", early/(1<<20), late/(1<<20))
		}
	}

	dir := os.Getenv(envSoakOut)
	if dir == "" {
		dir = t.TempDir()
	}
	if err := writeSoak(dir, samples); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s and %s", filepath.Join(dir, "soak.csv"), filepath.Join(dir, "soak.png"))
}

func medianRSS(ss []sample) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = s.rss
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// writeSoak writes the samples as soak.csv and plots them as soak.png.
func writeSoak(dir string, samples []sample) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	var csv strings.Builder
	csv.WriteString("seconds,requests,errors,req_per_s,p50_ms,p99_ms,goroutines,rss_mib\n")
	xs := make([]float64, len(samples))
	var rps, p50, p99, gor, rss []float64
	prev := time.Duration(0)
	for i, s := range samples {
		secs := (s.at - prev).Seconds()
		prev = s.at
		xs[i] = s.at.Seconds()
		rps = append(rps, float64(s.requests)/secs)
		p50 = append(p50, float64(s.p50)/float64(time.Millisecond))
		p99 = append(p99, float64(s.p99)/float64(time.Millisecond))
		gor = append(gor, s.goroutines)
		rss = append(rss, s.rss/(1<<20))
		fmt.Fprintf(&csv, "%.1f,%d,%d,%.1f,%.2f,%.2f,%.0f,%.1f\n", xs[i], s.requests, s.errors, rps[i], p50[i], p99[i], gor[i], rss[i])
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.csv"), []byte(csv.String()), 0o600); err != nil {
		return err
	}
	xlabel := "time (s)"
	return drawPlot(filepath.Join(dir, "soak.png"), xlabel, xs, []panel{
		{title: "throughput req/s", lines: []series{{label: "ok", col: blue, ys: rps}}},
		{title: "latency ms", lines: []series{{label: "p50", col: green, ys: p50}, {label: "p99", col: red, ys: p99}}},
		{title: "proxy RSS MiB", lines: []series{{label: "rss", col: plum, ys: rss}}},
		{title: "proxy goroutines", lines: []series{{label: "goroutines", col: amber, ys: gor}}},
	})
}
