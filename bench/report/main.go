// Command report turns the proxy benchmark's JSON lines (from loadgen) into
// the Markdown of docs/BENCHMARKS.md's "## Proxy" section: per case the
// medians over the rounds, then the ratios that have targets (docs/bench-proxy.md),
// each with its verdict.
//
//	report -in results.jsonl -meta meta.json > report.md
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/sidekey/sidekey/bench/internal/spec"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// result is one line of loadgen's output.
type result = spec.Result

// meta describes the run; bench/run.sh writes it.
type meta struct {
	Command      string  `json:"command"`
	Date         string  `json:"date"`
	Commit       string  `json:"commit"`
	CPU          string  `json:"cpu"`
	Cores        int     `json:"cores"`
	IdleBeforPct float64 `json:"idle_before_pct"`
	Pinned       bool    `json:"pinned"`
	Rounds       int     `json:"rounds"`
	Warmup       string  `json:"warmup"`
	Duration     string  `json:"duration"`
	Squid        string  `json:"squid"`
	Mitmproxy    string  `json:"mitmproxy"`
	Go           string  `json:"go"`
}

// Case descriptions, in table order.
var cases = []struct{ name, desc string }{
	{"direct", "direct to the upstream (no proxy)"},
	{"sidekey-plain-noph", "Sidekey, absolute-form http://, no placeholders"},
	{"sidekey-plain-inject", "Sidekey, absolute-form http://, injecting header + 2 JSON values"},
	{"sidekey-connect-inject", "Sidekey, CONNECT + TLS interception, injecting header + 2 JSON values"},
	{"sidekey-connect-h2-inject", "Sidekey, CONNECT + TLS interception, HTTP/2 sender (10 connections × 32 streams), injecting header + 2 JSON values"},
	{"squid-plain", "Squid, plain forward (values already in the request)"},
	{"mitm-connect-inject", "mitmproxy, CONNECT + TLS interception, injecting addon"},
	{"direct-1c", "direct, 1 connection (light load)"},
	{"direct-1c-crosscore", "direct, 1 connection, generator on CPU 1, upstream on CPU 0"},
	{"sidekey-plain-inject-1c", "Sidekey http:// injecting, 1 connection"},
	{"sidekey-connect-inject-1c", "Sidekey CONNECT+TLS injecting, 1 connection"},
	{"squid-plain-1c", "Squid plain forward, 1 connection"},
	{"mitm-connect-inject-1c", "mitmproxy intercepting + addon, 1 connection"},
	{"direct-1c-unpinned", "direct, 1 connection, unpinned"},
	{"sidekey-plain-inject-1c-unpinned", "Sidekey http:// injecting, 1 connection, unpinned"},
	{"sidekey-connect-inject-1c-unpinned", "Sidekey CONNECT+TLS injecting, 1 connection, unpinned"},
	{"sidekey-plain-inject-1c-onecore", "Sidekey http:// injecting, 1 connection, every process on CPU 0"},
	{"sidekey-connect-inject-1c-onecore", "Sidekey CONNECT+TLS injecting, 1 connection, every process on CPU 0"},
}

func run(w io.Writer) error {
	in := flag.String("in", "", "JSON lines from loadgen (required)")
	metaFile := flag.String("meta", "", "JSON description of the run")
	flag.Parse()
	if *in == "" {
		return errors.New("-in is required")
	}
	rs, err := readResults(*in)
	if err != nil {
		return err
	}
	var m meta
	if *metaFile != "" {
		b, err := os.ReadFile(*metaFile)
		if err != nil {
			return fmt.Errorf("read meta: %w", err)
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("decode meta: %w", err)
		}
	}
	byCase := map[string][]result{}
	for _, r := range rs {
		byCase[r.Case] = append(byCase[r.Case], r)
	}

	writeMeta(w, m)
	writeLoadTable(w, byCase, m)
	writeRatios(w, byCase)
	writeSidecar(w, byCase)
	writeMemory(w, byCase)
	return nil
}

func readResults(path string) ([]result, error) {
	f, err := os.Open(path) // #nosec G304 -- the operator names the file.
	if err != nil {
		return nil, fmt.Errorf("open results: %w", err)
	}
	defer func() { _ = f.Close() }()
	var rs []result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("decode result: %w", err)
		}
		rs = append(rs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	return rs, nil
}

func writeMeta(w io.Writer, m meta) {
	pin := "not pinned"
	if m.Pinned {
		pin = "Pinned with taskset: each proxy on CPU 1, load generator + upstream (+ Vault) on CPU 0"
	}
	fmt.Fprintf(w, "Run of %s, commit `%s`, %s (%d cores), Go %s, Squid %s, mitmproxy %s.\n",
		m.Date, m.Commit, m.CPU, m.Cores, m.Go, m.Squid, m.Mitmproxy)
	if m.Rounds > 1 {
		fmt.Fprintf(w, "Machine idle before the run: %.0f %%. %s. %d rounds per case, interleaved; "+
			"each case %s warm-up + %s measured; figures are medians over the rounds.\n\n",
			m.IdleBeforPct, pin, m.Rounds, m.Warmup, m.Duration)
	} else {
		fmt.Fprintf(w, "Machine idle before the run: %.0f %%. %s. One round: %s warm-up + %s measured.\n\n",
			m.IdleBeforPct, pin, m.Warmup, m.Duration)
	}
	if m.Command != "" {
		fmt.Fprintf(w, "Command: `%s`\n\n", m.Command)
	}
}

func median(rs []result, f func(result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func pct(cpu, window float64) float64 {
	if window <= 0 {
		return 0
	}
	return 100 * cpu / window
}

func writeLoadTable(w io.Writer, byCase map[string][]result, m meta) {
	found := false
	for _, c := range cases {
		found = found || len(load(byCase[c.name])) > 0
	}
	if !found {
		return
	}
	// The proxy columns are empty for the cases without a proxy.
	proxyOnly := func(c column) column {
		cell := c.cell
		c.cell = func(i int, rs []result) string {
			if strings.HasPrefix(cases[i].name, "direct") {
				return "—"
			}
			return cell(i, rs)
		}
		return c
	}
	writeTable(w, len(cases), func(i int) []result { return load(byCase[cases[i].name]) }, []column{
		{"path", "---", func(i int, _ []result) string { return cases[i].desc }},
		colConns,
		colRPS, colP50, colP99,
		proxyOnly(colProxyCPU), proxyOnly(colPerProxyCPU),
		colLoadgenCPU, colUpstreamCPU, colBusy, colNewConns, colVerified,
	})
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU columns are shares of one core over the measured window (100 % = one core busy); "+
		"\"machine busy\" is over both cores. \"new upstream conns\" counts the connections the upstream "+
		"accepted during a case (warm-up included): a low number means the proxy reuses keep-alive connections. "+
		"\"verified\" counts the requests the upstream checked byte for byte (no placeholder, exact injected header "+
		"and body, no Proxy-*/Sidekey-* header), warm-up included, over all rounds.")
	fmt.Fprintln(w)
}

// load returns the results of load mode.
func load(rs []result) []result {
	var out []result
	for _, r := range rs {
		if r.Mode == "load" {
			out = append(out, r)
		}
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// ratio returns the ratio of medians of f and the range of the per-round
// ratios (rounds paired by number).
func ratio(a, b []result, f func(result) float64) (med, lo, hi float64, ok bool) {
	if len(a) == 0 || len(b) == 0 {
		return 0, 0, 0, false
	}
	mb := median(b, f)
	if mb == 0 {
		return 0, 0, 0, false
	}
	med = median(a, f) / mb
	lo, hi = med, med
	byRound := map[int]result{}
	for _, r := range b {
		byRound[r.Round] = r
	}
	for _, r := range a {
		if rb, found := byRound[r.Round]; found && f(rb) > 0 {
			x := f(r) / f(rb)
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	return med, lo, hi, true
}

func writeRatios(w io.Writer, byCase map[string][]result) {
	out := w
	var rows bytes.Buffer
	defer func() {
		if rows.Len() > 0 {
			fmt.Fprintln(out, "| target | measured (median; per-round range) | verdict |")
			fmt.Fprintln(out, "| --- | --- | --- |")
			_, _ = rows.WriteTo(out)
			fmt.Fprintln(out)
		}
	}()
	w = &rows
	rps := func(r result) float64 { return r.RPS }
	perCPU := func(r result) float64 { return r.ReqPerProxyCPU }
	pairs := []struct {
		a, b, label string
		target      float64
	}{
		{"sidekey-plain-inject", "squid-plain", "Sidekey injecting (http://) ÷ Squid plain forward", 2},
		{"sidekey-connect-inject", "squid-plain", "Sidekey injecting (CONNECT+TLS) ÷ Squid plain forward", 2},
		{"sidekey-connect-inject", "mitm-connect-inject", "Sidekey injecting (CONNECT+TLS) ÷ mitmproxy intercepting", 5},
		{"sidekey-plain-inject", "mitm-connect-inject", "Sidekey injecting (http://) ÷ mitmproxy intercepting", 5},
		{"sidekey-connect-h2-inject", "sidekey-connect-inject", "Sidekey injecting, HTTP/2 sender ÷ HTTP/1.1 sender (CONNECT+TLS)", 0.8},
	}
	for _, p := range pairs {
		a, b := load(byCase[p.a]), load(byCase[p.b])
		for _, k := range []struct {
			name string
			f    func(result) float64
		}{{"req/s", rps}, {"req per proxy CPU-s", perCPU}} {
			med, lo, hi, ok := ratio(a, b, k.f)
			if !ok {
				continue
			}
			fmt.Fprintf(w, "| %s, %s ≥ %g× | %.2f× (%.2f–%.2f) | %s |\n", p.label, k.name, p.target, med, lo, hi, verdict(med >= p.target))
		}
	}
	p50 := func(r result) float64 { return r.P50us }
	for _, c := range []struct{ name, base, label string }{
		{"sidekey-plain-inject-1c", "direct-1c", "http:// injecting, pinned"},
		{"sidekey-connect-inject-1c", "direct-1c", "CONNECT+TLS injecting, pinned"},
		{"sidekey-plain-inject-1c-unpinned", "direct-1c-unpinned", "http:// injecting, unpinned"},
		{"sidekey-connect-inject-1c-unpinned", "direct-1c-unpinned", "CONNECT+TLS injecting, unpinned"},
		{"sidekey-plain-inject-1c-onecore", "direct-1c", "http:// injecting, all on one core"},
		{"sidekey-connect-inject-1c-onecore", "direct-1c", "CONNECT+TLS injecting, all on one core"},
	} {
		rs, direct := load(byCase[c.name]), load(byCase[c.base])
		if len(rs) == 0 || len(direct) == 0 {
			continue
		}
		added := median(rs, p50) - median(direct, p50)
		lo, hi := added, added
		byRound := map[int]result{}
		for _, r := range direct {
			byRound[r.Round] = r
		}
		for _, r := range rs {
			if d, ok := byRound[r.Round]; ok {
				x := r.P50us - d.P50us
				lo, hi = min(lo, x), max(hi, x)
			}
		}
		fmt.Fprintf(w, "| added p50 latency over direct at 1 connection, Sidekey %s ≤ 150 µs | %.0f µs (%.0f–%.0f) | %s |\n",
			c.label, added, lo, hi, verdict(added <= 150))
	}
}

func writeMemory(w io.Writer, byCase map[string][]result) {
	var idle []result
	for _, c := range []string{"sidekey-idle-plain", "sidekey-idle-connect", "sidekey-idle-connect-h2", "squid-idle-plain", "mitm-idle-connect"} {
		idle = append(idle, byCase[c]...)
	}
	if len(idle) > 0 {
		fmt.Fprintln(w, "Idle connections (each opened, one verified request made on it, then left idle; RSS read from /proc/PID/status after the settle time):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| proxy, connections | open after settle | proxy fds | RSS before | RSS with the connections | target | verdict |")
		fmt.Fprintln(w, "| --- | --: | --: | --: | --: | --- | --- |")
		for _, r := range idle {
			target, v := "—", "—"
			switch {
			case r.Case == "sidekey-idle-connect-h2":
				target, v = "≤ 96 MiB", verdict(r.RSSEndKiB <= 96*1024 && r.Failed == "")
			case strings.HasPrefix(r.Case, "sidekey"):
				target, v = "≤ 64 MiB", verdict(r.RSSEndKiB <= 64*1024 && r.Failed == "")
			}
			fmt.Fprintf(w, "| %s, %d | %d | %d | %.1f MiB | %.1f MiB | %s | %s |\n",
				r.Case, r.Conns, r.Requests, r.ProxyFDs, mib(r.RSSStartKiB), mib(r.RSSEndKiB), target, v)
		}
		fmt.Fprintln(w)
	}
	for _, r := range byCase["sidekey-soak"] {
		writeSoak(w, r)
	}
}

func perReq(n, requests int64) float64 {
	if requests <= 0 {
		return 0
	}
	return float64(n) / float64(requests)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// writeSoak judges RSS growth over a long run: the largest RSS of the last
// minute must not exceed the largest of the second minute (the first is
// warm-up) by more than 10 %.
func writeSoak(w io.Writer, r result) {
	fmt.Fprintf(w, "Soak: %.0f s of %d connections (%s route), %.0f req/s, %d requests, %d errors, %d connection reopenings; upstream verified %d of %d.\n\n",
		r.Window, r.Conns, r.Route, r.RPS, r.Requests, r.Errors, r.Reopened, r.Upstream.Verified, r.Upstream.Requests)
	if r.RSSEverySec <= 0 || len(r.RSSSamples) < 4 {
		fmt.Fprintln(w, "Too few RSS samples to judge growth.")
		return
	}
	perMin := int(60 / r.RSSEverySec)
	n := len(r.RSSSamples)
	if n < 3*perMin {
		fmt.Fprintln(w, "The soak was shorter than three minutes: growth not judged.")
		return
	}
	second := slices.Max(r.RSSSamples[perMin : 2*perMin])
	last := slices.Max(r.RSSSamples[n-perMin:])
	var parts []string
	for i := 0; i < n; i += perMin {
		parts = append(parts, fmt.Sprintf("%.1f", mib(r.RSSSamples[i])))
	}
	fmt.Fprintf(w, "RSS every minute (MiB): %s; end %.1f MiB.\n\n", strings.Join(parts, ", "), mib(r.RSSSamples[n-1]))
	fmt.Fprintf(w, "| target | measured | verdict |\n| --- | --- | --- |\n")
	fmt.Fprintf(w, "| no RSS growth over the run (max of last minute ≤ max of second minute + 10 %%) | %.1f → %.1f MiB (%+.1f %%) | %s |\n\n",
		mib(second), mib(last), 100*(float64(last)/float64(second)-1), verdict(float64(last) <= 1.10*float64(second)))
}

// Sidecar cases: unpinned, partial load, net/http sender, in table order.
var sidecarCases = []struct {
	name, desc string
	gomaxprocs int
	// target is the least req per proxy CPU-s as a multiple of Squid's
	// plain forward (0: Squid itself).
	target float64
}{
	{"squid-sidecar-plain", "Squid, plain forward", 0, 0},
	{"sidekey-sidecar-plain-noph-gmp1", "Sidekey, absolute-form http://, no placeholders", 1, 2.5},
	{"sidekey-sidecar-plain-noph-gmp2", "Sidekey, absolute-form http://, no placeholders", 2, 2.5},
	{"sidekey-sidecar-connect-inject-gmp1", "Sidekey, CONNECT + TLS interception, injecting header + 2 JSON values", 1, 1.6},
	{"sidekey-sidecar-connect-inject-gmp2", "Sidekey, CONNECT + TLS interception, injecting header + 2 JSON values", 2, 1.6},
	{"sidekeyb-sidecar-plain-noph-gmp1", "build B: Sidekey, absolute-form http://, no placeholders", 1, 2.5},
	{"sidekeyb-sidecar-plain-noph-gmp2", "build B: Sidekey, absolute-form http://, no placeholders", 2, 2.5},
	{"sidekeyb-sidecar-connect-inject-gmp1", "build B: Sidekey, CONNECT + TLS interception, injecting header + 2 JSON values", 1, 1.6},
	{"sidekeyb-sidecar-connect-inject-gmp2", "build B: Sidekey, CONNECT + TLS interception, injecting header + 2 JSON values", 2, 1.6},
}

// writeSidecar writes the sidecar cases (every process unpinned, the proxy
// at partial load) and their targets against Squid's plain forward.
func writeSidecar(w io.Writer, byCase map[string][]result) {
	var first *result
	for _, c := range sidecarCases {
		if rs := load(byCase[c.name]); len(rs) > 0 && first == nil {
			first = &rs[0]
		}
	}
	if first == nil {
		return
	}
	fmt.Fprintf(w, "Sidecar cases: every process unpinned (the scheduler places proxy, generator, upstream and Vault on "+
		"both cores), a net/http sender (http.Transport with Proxy set: keep-alive, Go's default headers, "+
		"Proxy-Authorization on each absolute-form request and on each CONNECT), %d connections at a fixed %.0f req/s "+
		"in total, so that the proxy stays well below one core.\n\n", first.Conns, first.TargetRate)
	writeTable(w, len(sidecarCases), func(i int) []result { return load(byCase[sidecarCases[i].name]) }, []column{
		{"path", "---", func(i int, _ []result) string { return sidecarCases[i].desc }},
		{"GOMAXPROCS", "--:", func(i int, _ []result) string {
			if n := sidecarCases[i].gomaxprocs; n > 0 {
				return fmt.Sprint(n)
			}
			return "—"
		}},
		colRPS, colP50, colP99, colProxyCPU, colPerProxyCPU,
		medianColumn("proxy context switches per req", "%.2f", func(r result) float64 { return perReq(r.ProxyCtxSwitches, r.Requests) }),
		colLoadgenCPU, colUpstreamCPU, colBusy,
		medianColumn("load avg", "%.2f", func(r result) float64 { return r.LoadAvg1 }),
		colNewConns, colVerified,
	})
	fmt.Fprintln(w)
	writeSidecarTargets(w, byCase)
	writeSidecarAB(w, byCase)
}

// writeSidecarTargets: the sidecar cases against Squid's plain forward of
// the same run.
func writeSidecarTargets(w io.Writer, byCase map[string][]result) {
	squid := load(byCase["squid-sidecar-plain"])
	if len(squid) == 0 {
		return
	}
	fmt.Fprintln(w, "| target (sidecar cases) | measured (median; per-round range) | verdict |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	perCPU := func(r result) float64 { return r.ReqPerProxyCPU }
	rps := func(r result) float64 { return r.RPS }
	for _, t := range sidecarCases {
		if t.target == 0 {
			continue
		}
		label := fmt.Sprintf("%s, GOMAXPROCS=%d", t.desc, t.gomaxprocs)
		a := load(byCase[t.name])
		if med, lo, hi, ok := ratio(a, squid, perCPU); ok {
			fmt.Fprintf(w, "| %s ÷ Squid plain forward, req per proxy CPU-s ≥ %g× | %.2f× (%.2f–%.2f) | %s |\n",
				label, t.target, med, lo, hi, verdict(med >= t.target))
		}
		if med, lo, hi, ok := ratio(a, squid, rps); ok {
			// At a fixed offered rate every proxy that keeps up answers the
			// same req/s: "ahead" here means keeping the rate (within 1 %).
			fmt.Fprintf(w, "| %s ÷ Squid plain forward, req/s at the offered rate ≥ 0.99× | %.3f× (%.3f–%.3f) | %s |\n",
				label, med, lo, hi, verdict(med >= 0.99))
		}
	}
	fmt.Fprintln(w)
}

// writeSidecarAB: build B against build A, same run (SIDEKEY_BIN_B).
func writeSidecarAB(w io.Writer, byCase map[string][]result) {
	perCPU := func(r result) float64 { return r.ReqPerProxyCPU }
	var ab bytes.Buffer
	for _, c := range sidecarCases[1:5] {
		a, b := load(byCase[c.name]), load(byCase["sidekeyb-"+strings.TrimPrefix(c.name, "sidekey-")])
		if med, lo, hi, ok := ratio(b, a, perCPU); ok {
			fmt.Fprintf(&ab, "| %s, GOMAXPROCS=%d | %.2f× (%.2f–%.2f) | %.0f → %.0f µs |\n", c.desc, c.gomaxprocs, med, lo, hi,
				median(a, func(r result) float64 { return r.P99us }), median(b, func(r result) float64 { return r.P99us }))
		}
	}
	if ab.Len() > 0 {
		fmt.Fprintln(w, "| build B ÷ build A, same run | req per proxy CPU-s (median; per-round range) | p99 A → B |")
		fmt.Fprintln(w, "| --- | --- | --- |")
		_, _ = ab.WriteTo(w)
		fmt.Fprintln(w)
	}
}

// column is one column of a results table: its heading, its cell of the
// Markdown alignment row, and its cell for the load runs rs of the table's
// case i.
type column struct {
	head, align string
	cell        func(i int, rs []result) string
}

// medianColumn is a right-aligned column of the median of f over a case's
// runs, printed with format.
func medianColumn(head, format string, f func(result) float64) column {
	return column{head, "--:", func(_ int, rs []result) string { return fmt.Sprintf(format, median(rs, f)) }}
}

// The columns of both load tables.
var (
	colConns       = column{"conns", "--:", func(_ int, rs []result) string { return fmt.Sprint(rs[0].Conns) }}
	colRPS         = medianColumn("req/s", "%.0f", func(r result) float64 { return r.RPS })
	colP50         = medianColumn("p50 µs", "%.0f", func(r result) float64 { return r.P50us })
	colP99         = medianColumn("p99 µs", "%.0f", func(r result) float64 { return r.P99us })
	colProxyCPU    = medianColumn("proxy CPU", "%.0f %%", func(r result) float64 { return pct(r.ProxyCPU, r.Window) })
	colPerProxyCPU = medianColumn("req per proxy CPU-s", "%.0f", func(r result) float64 { return r.ReqPerProxyCPU })
	colLoadgenCPU  = medianColumn("loadgen CPU", "%.0f %%", func(r result) float64 { return pct(r.LoadgenCPU, r.Window) })
	colUpstreamCPU = medianColumn("upstream CPU", "%.0f %%", func(r result) float64 { return pct(r.UpstreamCPU, r.Window) })
	colBusy        = medianColumn("machine busy", "%.0f %%", func(r result) float64 { return r.MachineBusyPct })
	colNewConns    = medianColumn("new upstream conns", "%.0f", func(r result) float64 { return float64(r.Upstream.Conns) })
	colVerified    = column{"verified", "---", func(_ int, rs []result) string { return verifiedCell(rs) }}
)

// writeTable writes a Markdown table of cols with a row for each of the n
// cases that has load runs (runs(i)).
func writeTable(w io.Writer, n int, runs func(i int) []result, cols []column) {
	row := func(cell func(c column) string) {
		for _, c := range cols {
			fmt.Fprintf(w, "| %s ", cell(c))
		}
		fmt.Fprintln(w, "|")
	}
	row(func(c column) string { return c.head })
	row(func(c column) string { return c.align })
	for i := range n {
		if rs := runs(i); len(rs) > 0 {
			row(func(c column) string { return c.cell(i, rs) })
		}
	}
}

// verifiedCell is the "verified" column of the runs rs: "all (N)" when the
// upstream checked each of their N requests byte for byte, else the count
// it checked, in bold.
func verifiedCell(rs []result) string {
	var verified, total int64
	for _, r := range rs {
		verified += r.Upstream.Verified
		total += r.Upstream.Requests
	}
	if verified != total {
		return fmt.Sprintf("**%d of %d** (%d)", verified, total, total)
	}
	return fmt.Sprintf("all (%d)", total)
}
