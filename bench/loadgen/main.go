// Command loadgen is the proxy benchmark's load generator. It keeps a fixed
// number of keep-alive connections busy with one benchmark request each
// (closed loop), for a warm-up and then a measured window, and prints one
// JSON line: throughput, latency percentiles, the CPU time that the proxy,
// the upstream and the generator itself used in the window (from
// /proc/PID/stat and getrusage), the machine's busy share, and the
// upstream's verification counters, which prove that every request
// arrived with exactly the expected injected bytes and no placeholder.
//
// Routes (-route):
//
//	direct   origin-form requests straight to the upstream (-addr = upstream)
//	proxy    absolute-form http:// requests through a forward proxy
//	connect  CONNECT to the upstream's TLS port through the proxy, then TLS
//	         to the proxy's intercepting certificate (trusted with -ca)
//
// Modes (-mode): "load" measures; "idle" opens -conns connections, makes one
// request on each, leaves them idle and reads the proxy's VmRSS.
//
// Any error, non-200 answer or failed verification makes the exit status 1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sidekey/sidekey/bench/internal/spec"
)

func main() {
	os.Exit(run())
}

type config struct {
	caseName     string
	round        int
	mode         string
	route        string
	addr         string
	upstream     string
	tlsUpstream  string
	placeholders bool
	valuesFile   string
	proxyAuth    string
	caFile       string
	conns        int
	warmup       time.Duration
	duration     time.Duration
	settle       time.Duration
	setupTimeout time.Duration
	reqsPerConn  int
	control      string
	proxyPID     int
	upstreamPID  int
	rssEvery     time.Duration
	clkTck       int
	out          string
	h2           bool
	streams      int
	sender       string
	rate         float64
}

func parseFlags() (config, error) {
	var c config
	proxyAuthFile := c.bind(flag.CommandLine)
	flag.Parse()
	problems := c.problems()
	if *proxyAuthFile != "" {
		b, err := os.ReadFile(*proxyAuthFile) // #nosec G304 -- the operator names the file.
		if err != nil {
			problems = append(problems, err.Error())
		}
		c.proxyAuth = strings.TrimSpace(string(b))
	}
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "; "))
	}
	return c, nil
}

// bind defines the command's flags onto c; it returns the
// -proxy-auth-file flag, read after parsing.
func (c *config) bind(fs *flag.FlagSet) *string {
	fs.StringVar(&c.caseName, "case", "", "case name for the report (required)")
	fs.IntVar(&c.round, "round", 1, "round number for the report")
	fs.StringVar(&c.mode, "mode", "load", "load or idle")
	fs.StringVar(&c.route, "route", "direct", "direct, proxy or connect")
	fs.StringVar(&c.addr, "addr", "", "address to connect to: the upstream (direct) or the proxy")
	fs.StringVar(&c.upstream, "upstream", "", "upstream host:port of plain HTTP, named in direct and proxy requests")
	fs.StringVar(&c.tlsUpstream, "tls-upstream", "", "upstream host:port of HTTPS, the CONNECT target")
	fs.BoolVar(&c.placeholders, "placeholders", false, "send placeholders instead of the values")
	fs.StringVar(&c.valuesFile, "values", "", "JSON file of the values (required)")
	proxyAuthFile := fs.String("proxy-auth-file", "", "file holding the Proxy-Authorization header value")
	fs.StringVar(&c.caFile, "ca", "", "PEM CA that signs the proxy's intercepting certificates (connect)")
	fs.IntVar(&c.conns, "conns", 32, "keep-alive connections")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "warm-up before the measured window")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured window")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "idle mode: wait before reading the RSS")
	fs.DurationVar(&c.setupTimeout, "setup-timeout", 10*time.Second, "bound of opening one connection: dial, CONNECT and TLS")
	fs.IntVar(&c.reqsPerConn, "reqs-per-conn", 0, "reopen a connection after this many requests (0: never)")
	fs.StringVar(&c.control, "control", "", "upstream control address for the verification counters (required)")
	fs.IntVar(&c.proxyPID, "proxy-pid", 0, "PID of the proxy, for CPU and RSS")
	fs.IntVar(&c.upstreamPID, "upstream-pid", 0, "PID of the upstream, for CPU")
	fs.DurationVar(&c.rssEvery, "rss-every", 0, "sample the proxy's VmRSS at this interval (0: start and end only)")
	fs.IntVar(&c.clkTck, "clk-tck", 100, "clock ticks per second of /proc/PID/stat (getconf CLK_TCK)")
	fs.StringVar(&c.out, "out", "", "append the JSON result line to this file too")
	fs.BoolVar(&c.h2, "h2", false, "connect route: speak HTTP/2 inside each tunnel (ALPN h2 only)")
	fs.IntVar(&c.streams, "streams", 1, "-h2: concurrent streams (closed loops) per connection")
	fs.StringVar(&c.sender, "sender", "raw", "raw (pre-built request bytes, fasthttp parser) or nethttp (net/http.Transport with Proxy set)")
	fs.Float64Var(&c.rate, "rate", 0, "-sender nethttp: total requests per second over all connections (0: closed loop)")
	return proxyAuthFile
}

// problems lists what is wrong with the parsed flags.
func (c *config) problems() []string {
	var problems []string
	if c.caseName == "" {
		problems = append(problems, "-case is required")
	}
	if c.mode != "load" && c.mode != "idle" {
		problems = append(problems, "-mode must be load or idle")
	}
	if c.route != "direct" && c.route != "proxy" && c.route != "connect" && c.route != "mixed" {
		problems = append(problems, "-route must be direct, proxy, connect or mixed")
	}
	if c.addr == "" {
		problems = append(problems, "-addr is required")
	}
	if c.route != "connect" && c.upstream == "" {
		problems = append(problems, "-route "+c.route+" needs -upstream")
	}
	if (c.route == "connect" || c.route == "mixed") && c.tlsUpstream == "" {
		problems = append(problems, "-route "+c.route+" needs -tls-upstream")
	}
	if c.valuesFile == "" || c.control == "" {
		problems = append(problems, "-values and -control are required")
	}
	if (c.route == "connect" || c.route == "mixed") && c.caFile == "" {
		problems = append(problems, "-route "+c.route+" needs -ca")
	}
	if c.h2 && c.route != "connect" {
		problems = append(problems, "-h2 needs -route connect")
	}
	if c.streams < 1 || c.streams > 1000 || (!c.h2 && c.streams != 1) {
		problems = append(problems, "-streams must be 1..1000, and more than 1 only with -h2")
	}
	if c.sender != "raw" && c.sender != "nethttp" {
		problems = append(problems, "-sender must be raw or nethttp")
	}
	if c.sender == "nethttp" && (c.h2 || c.mode != "load" || (c.route != "proxy" && c.route != "connect")) {
		problems = append(problems, "-sender nethttp needs -mode load, -route proxy or connect, and no -h2")
	}
	if c.rate < 0 || (c.rate > 0 && c.sender != "nethttp") {
		problems = append(problems, "-rate must be ≥ 0, and is only for -sender nethttp")
	}
	if c.conns < 1 || c.conns > 100000 {
		problems = append(problems, "-conns must be 1..100000")
	}
	if c.duration <= 0 || c.duration > time.Hour {
		problems = append(problems, "-duration must be in (0, 1h]")
	}
	if c.mode == "idle" && c.proxyPID == 0 {
		problems = append(problems, "-mode idle needs -proxy-pid")
	}
	return problems
}

// Result is one JSON line of the benchmark (spec.Result).
type Result = spec.Result

type upstreamStats = spec.UpstreamStats

func run() int {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	g, err := newGenerator(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	if err := resetUpstream(cfg.control); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	var res Result
	if cfg.mode == "idle" {
		res = g.idle(ctx)
	} else {
		res = g.load(ctx)
	}
	st, err := upstreamStatsOf(cfg.control)
	if err != nil {
		res.Failed = join(res.Failed, err.Error())
	}
	res.Upstream = st
	res.Failed = join(res.Failed, verify(res, g.ok.Load()))

	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	fmt.Println(string(line))
	if cfg.out != "" {
		f, err := os.OpenFile(cfg.out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644) // #nosec G302 G304 -- a report file.
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 1
		}
		_, werr := f.Write(append(line, '\n'))
		cerr := f.Close()
		if werr != nil || cerr != nil {
			fmt.Fprintln(os.Stderr, "loadgen: write result:", errors.Join(werr, cerr))
			return 1
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "loadgen: case %s round %d interrupted\n", res.Case, res.Round)
		return 130
	}
	if res.Failed != "" {
		fmt.Fprintf(os.Stderr, "loadgen: case %s round %d FAILED: %s\n", res.Case, res.Round, res.Failed)
		return 1
	}
	if res.Mode == "idle" {
		fmt.Fprintf(os.Stderr, "  %-28s %5d idle conns  proxy RSS %.1f -> %.1f MiB  fds %d\n",
			res.Case, res.Requests, float64(res.RSSStartKiB)/1024, float64(res.RSSEndKiB)/1024, res.ProxyFDs)
	} else {
		fmt.Fprintf(os.Stderr, "  %-28s r%d %8.0f req/s  p50 %7.0f µs  p99 %7.0f µs  proxy %5.1f s CPU  loadgen %4.1f s  busy %3.0f %%  verified %d/%d\n",
			res.Case, res.Round, res.RPS, res.P50us, res.P99us, res.ProxyCPU, res.LoadgenCPU, res.MachineBusyPct,
			res.Upstream.Verified, res.Upstream.Requests)
	}
	return 0
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// verify checks the upstream's counters against what the generator saw:
// every answered request arrived, with exactly the expected bytes.
func verify(r Result, answered int64) string {
	var p []string
	if r.Errors > 0 {
		p = append(p, fmt.Sprintf("%d request errors (first: %s)", r.Errors, r.FirstError))
	}
	u := r.Upstream
	if u.Requests != answered {
		p = append(p, fmt.Sprintf("upstream saw %d requests, generator got %d answers", u.Requests, answered))
	}
	if u.Placeholders != 0 {
		p = append(p, fmt.Sprintf("%d placeholders reached the upstream", u.Placeholders))
	}
	if u.Mismatched != 0 || u.Verified != u.Requests {
		p = append(p, fmt.Sprintf("%d of %d requests arrived without exactly the expected injected values", u.Mismatched, u.Requests))
	}
	if u.Leaked != 0 {
		p = append(p, fmt.Sprintf("%d requests carried Proxy-*/Sidekey-* headers to the upstream", u.Leaked))
	}
	if answered == 0 {
		p = append(p, "no request was answered")
	}
	return strings.Join(p, "; ")
}

// generator holds what every connection needs.
type generator struct {
	cfg      config
	requests map[string][]byte // by route: direct, proxy, connect
	tlsCfg   *tls.Config
	h2       *h2Sender      // -h2
	nh       *netHTTPSender // -sender nethttp

	ok        atomic.Int64 // 200 answers, warm-up included
	errs      atomic.Int64
	reopened  atomic.Int64
	firstErr  atomic.Pointer[string]
	measuring atomic.Bool
	stopped   atomic.Bool
}

func newGenerator(cfg config) (*generator, error) {
	vals, err := spec.Load(cfg.valuesFile)
	if err != nil {
		return nil, err
	}
	if cfg.placeholders {
		vals = spec.Placeholders()
	}
	g := &generator{cfg: cfg, requests: map[string][]byte{}}
	for _, r := range []string{"direct", "proxy", "connect"} {
		g.requests[r] = buildRequest(cfg, r, vals)
	}
	if cfg.route == "connect" || cfg.route == "mixed" {
		pem, err := os.ReadFile(cfg.caFile)
		if err != nil {
			return nil, fmt.Errorf("read -ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca %s holds no PEM certificate", cfg.caFile)
		}
		host, _, err := net.SplitHostPort(cfg.tlsUpstream)
		if err != nil {
			return nil, fmt.Errorf("-tls-upstream: %w", err)
		}
		g.tlsCfg = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			RootCAs:            pool,
			ServerName:         host,
			NextProtos:         []string{"http/1.1"},
			ClientSessionCache: tls.NewLRUClientSessionCache(256),
		}
		if cfg.h2 {
			g.tlsCfg.NextProtos = []string{"h2"}
			g.h2 = newH2Sender(cfg, vals)
		}
	}
	if cfg.sender == "nethttp" {
		if g.nh, err = newNetHTTPSender(g, vals); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// routeOf returns the route of worker i: mixed alternates proxy and connect.
func (g *generator) routeOf(i int) string {
	if g.cfg.route != "mixed" {
		return g.cfg.route
	}
	if i%2 == 0 {
		return "proxy"
	}
	return "connect"
}

// buildRequest renders the one request every connection of a route repeats.
func buildRequest(cfg config, route string, v spec.Values) []byte {
	body := spec.Body(v.Username, v.Password)
	host, target := cfg.upstream, spec.Path
	switch route {
	case "proxy":
		target = "http://" + cfg.upstream + spec.Path
	case "connect":
		host = cfg.tlsUpstream
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sidekey-bench\r\n", target, host)
	if route == "proxy" && cfg.proxyAuth != "" {
		fmt.Fprintf(&b, "Proxy-Authorization: %s\r\n", cfg.proxyAuth)
	}
	fmt.Fprintf(&b, "%s: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		spec.HeaderAPIKey, v.APIKey, len(body))
	b.Write(body)
	return b.Bytes()
}

// client is one keep-alive connection.
type client struct {
	req  []byte
	conn net.Conn
	br   *bufio.Reader
	used int
}

func (g *generator) dial(ctx context.Context, route string) (*client, error) {
	d := net.Dialer{Timeout: g.cfg.setupTimeout}
	conn, err := d.DialContext(ctx, "tcp", g.cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", g.cfg.addr, err)
	}
	if route == "connect" {
		tc, err := g.connect(ctx, conn)
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		conn = tc
	}
	return &client{req: g.requests[route], conn: conn, br: bufio.NewReaderSize(conn, 4096)}, nil
}

// connect opens a tunnel to the upstream and starts TLS inside it.
func (g *generator) connect(ctx context.Context, conn net.Conn) (net.Conn, error) {
	if err := conn.SetDeadline(time.Now().Add(g.cfg.setupTimeout)); err != nil {
		return nil, fmt.Errorf("connect deadline: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", g.cfg.tlsUpstream, g.cfg.tlsUpstream)
	if g.cfg.proxyAuth != "" {
		fmt.Fprintf(&b, "Proxy-Authorization: %s\r\n", g.cfg.proxyAuth)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, fmt.Errorf("write CONNECT: %w", err)
	}
	// Read the answer byte by byte so that nothing of the TLS stream is
	// buffered away; it happens once per connection.
	var head []byte
	one := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) > 8192 {
			return nil, errors.New("CONNECT answer header too long")
		}
		if _, err := io.ReadFull(conn, one); err != nil {
			return nil, fmt.Errorf("read CONNECT answer: %w", err)
		}
		head = append(head, one[0])
	}
	status := strings.SplitN(string(head), " ", 3)
	if len(status) < 2 || status[1] != "200" {
		line, _, _ := strings.Cut(string(head), "\r\n")
		return nil, fmt.Errorf("CONNECT refused: %q", line)
	}
	tc := tls.Client(conn, g.tlsCfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS through the proxy: %w", err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clear deadline: %w", err)
	}
	return tc, nil
}

// do sends the request once and reads the answer.
func (g *generator) do(c *client, resp *fasthttp.Response) error {
	if err := c.conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return fmt.Errorf("deadline: %w", err)
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := resp.Read(c.br); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	c.used++
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		return fmt.Errorf("status %d (Sidekey-Error %q)", sc, resp.Header.Peek("Sidekey-Error"))
	}
	return nil
}

func (g *generator) fail(err error) {
	if g.errs.Add(1) == 1 {
		s := err.Error()
		g.firstErr.Store(&s)
	}
}

// measure makes one request with do and counts it as an error or an
// answer; an answered request that began and ended inside the measured
// window adds its latency, in microseconds, to lat.
func (g *generator) measure(lat []float64, do func() error) ([]float64, error) {
	measured := g.measuring.Load()
	t0 := time.Now()
	err := do()
	d := time.Since(t0)
	if err != nil {
		g.fail(err)
		return lat, err
	}
	g.ok.Add(1)
	if measured && g.measuring.Load() {
		lat = append(lat, float64(d.Nanoseconds())/1e3)
	}
	return lat, nil
}

// worker runs one connection's closed loop until stopped and returns the
// latencies measured in the window, in microseconds.
func (g *generator) worker(ctx context.Context, route string) []float64 {
	lat := make([]float64, 0, 4096)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	var c *client
	defer func() {
		if c != nil {
			_ = c.conn.Close()
		}
	}()
	for !g.stopped.Load() && ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = g.dial(ctx, route); err != nil {
				g.fail(err)
				if g.errs.Load() > 1000 {
					return lat
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		var err error
		if lat, err = g.measure(lat, func() error { return g.do(c, resp) }); err != nil {
			_ = c.conn.Close()
			c = nil
			continue
		}
		if resp.ConnectionClose() || (g.cfg.reqsPerConn > 0 && c.used >= g.cfg.reqsPerConn) {
			_ = c.conn.Close()
			c = nil
			g.reopened.Add(1)
		}
	}
	return lat
}

// load runs the closed loop: warm-up, then the measured window.
func (g *generator) load(ctx context.Context) Result {
	res := Result{Case: g.cfg.caseName, Round: g.cfg.round, Mode: "load", Route: g.cfg.route, Conns: g.cfg.conns,
		Sender: g.cfg.sender, TargetRate: g.cfg.rate}
	var wg sync.WaitGroup
	lats := make([][]float64, g.cfg.conns)
	for i := range g.cfg.conns {
		if g.nh != nil {
			wg.Go(func() { lats[i] = g.netHTTPWorker(ctx, i) })
			continue
		}
		if g.h2 != nil {
			res.Streams = g.cfg.streams
			wg.Go(func() { lats[i] = g.h2Conn(ctx) })
			continue
		}
		wg.Go(func() { lats[i] = g.worker(ctx, g.routeOf(i)) })
	}
	sleep(ctx, g.cfg.warmup)

	rss := startRSS(ctx, g.cfg.proxyPID, g.cfg.rssEvery)
	before := g.snapshot()
	g.measuring.Store(true)
	t0 := time.Now()
	sleep(ctx, g.cfg.duration)
	g.measuring.Store(false)
	window := time.Since(t0)
	after := g.snapshot()
	g.stopped.Store(true)
	wg.Wait()
	res.RSSSamples = rss.stop()

	var all []float64
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	res.Window = window.Seconds()
	res.Requests = int64(len(all))
	res.RPS = float64(len(all)) / window.Seconds()
	res.P50us = percentile(all, 0.50)
	res.P90us = percentile(all, 0.90)
	res.P99us = percentile(all, 0.99)
	if len(all) > 0 {
		res.MaxUs = all[len(all)-1]
	}
	g.fillCPU(&res, before, after, window)
	res.LoadAvg1 = loadAvg1()
	if n := len(res.RSSSamples); n > 0 {
		res.RSSStartKiB, res.RSSEndKiB = res.RSSSamples[0], res.RSSSamples[n-1]
		res.RSSMaxKiB = slices.Max(res.RSSSamples)
		res.RSSEverySec = g.cfg.rssEvery.Seconds()
	}
	if g.cfg.rssEvery == 0 {
		res.RSSSamples = nil
	}
	res.Errors = g.errs.Load()
	res.Reopened = g.reopened.Load()
	if p := g.firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	return res
}

// idle opens the connections, makes one request on each, leaves them idle
// and reads the proxy's memory.
func (g *generator) idle(ctx context.Context) Result {
	res := Result{Case: g.cfg.caseName, Round: g.cfg.round, Mode: "idle", Route: g.cfg.route, Conns: g.cfg.conns}
	res.RSSStartKiB = vmRSS(g.cfg.proxyPID)
	t0 := time.Now()
	if g.h2 != nil {
		g.idleH2(ctx, &res)
	} else {
		g.idleH1(ctx, &res)
	}
	res.Window = time.Since(t0).Seconds()
	res.Errors = g.errs.Load()
	if p := g.firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	return res
}

// idleH1 is idle mode over HTTP/1.1: after the settle time each connection
// must still be open (a read times out rather than failing).
func (g *generator) idleH1(ctx context.Context, res *Result) {
	open := func(i int) (*client, error) {
		c, err := g.dial(ctx, g.routeOf(i))
		if err != nil {
			return nil, err
		}
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		if err := g.do(c, resp); err != nil {
			_ = c.conn.Close()
			return nil, err
		}
		return c, nil
	}
	alive := func(c *client) bool {
		if err := c.conn.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
			return false
		}
		_, err := c.br.Peek(1)
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	idleConns(ctx, g, res, "connections", open, alive, func(c *client) { _ = c.conn.Close() })
}

// idleConns opens the connections with open (16 at a time), waits the
// settle time, reads the proxy's memory and descriptors, then counts the
// connections still alive and closes them. A proxy that dropped idle
// connections must not score.
func idleConns[C comparable](ctx context.Context, g *generator, res *Result, kind string, open func(i int) (C, error), alive func(C) bool, closeConn func(C)) {
	conns := make([]C, g.cfg.conns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := open(i)
			if err != nil {
				g.fail(err)
				return
			}
			g.ok.Add(1)
			conns[i] = c
		})
	}
	wg.Wait()
	sleep(ctx, g.cfg.settle)
	res.RSSEndKiB = vmRSS(g.cfg.proxyPID)
	res.RSSMaxKiB = res.RSSEndKiB
	res.ProxyFDs = countFDs(g.cfg.proxyPID)
	var zero C
	n := 0
	for _, c := range conns {
		if c == zero {
			continue
		}
		if alive(c) {
			n++
		}
		closeConn(c)
	}
	res.Requests = int64(n)
	if n != g.cfg.conns {
		res.Failed = fmt.Sprintf("only %d of %d %s were still open after the settle time", n, g.cfg.conns, kind)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

// cpuSnapshot is the CPU time used so far by the processes we watch.
type cpuSnapshot struct {
	proxy, upstream, self float64 // seconds
	proxyCtxSwitches      int64
	busy, total           uint64 // /proc/stat jiffies, all CPUs
}

func (g *generator) snapshot() cpuSnapshot {
	var s cpuSnapshot
	s.proxy = procCPU(g.cfg.proxyPID, g.cfg.clkTck)
	s.proxyCtxSwitches = ctxSwitches(g.cfg.proxyPID)
	s.upstream = procCPU(g.cfg.upstreamPID, g.cfg.clkTck)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.self = tv(ru.Utime) + tv(ru.Stime)
	}
	s.busy, s.total = machineCPU()
	return s
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func (g *generator) fillCPU(r *Result, a, b cpuSnapshot, window time.Duration) {
	r.ProxyCPU = b.proxy - a.proxy
	r.UpstreamCPU = b.upstream - a.upstream
	r.LoadgenCPU = b.self - a.self
	r.ProxyCtxSwitches = b.proxyCtxSwitches - a.proxyCtxSwitches
	if dt := b.total - a.total; dt > 0 {
		r.MachineBusyPct = 100 * float64(b.busy-a.busy) / float64(dt)
	}
	if r.ProxyCPU > 0 {
		r.ReqPerProxyCPU = float64(r.Requests) / r.ProxyCPU
	}
}

// ctxSwitches sums the context switches of every thread of a process
// (/proc/PID/task/*/status); threads that ended are not counted. 0 when
// pid is 0.
func ctxSwitches(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				v, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
				n += v
			} else if rest, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
				v, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
				n += v
			}
		}
	}
	return n
}

// loadAvg1 reads the 1-minute load average from /proc/loadavg; 0 when unknown.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// procCPU reads utime+stime of a process, in seconds; 0 when pid is 0.
func procCPU(pid, clkTck int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which may hold spaces: state is the
	// first; utime and stime are the 12th and 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return float64(ut+st) / float64(clkTck)
}

// machineCPU returns busy and total jiffies of all CPUs from /proc/stat.
func machineCPU() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	var idle uint64
	for i, s := range f[1:] {
		n, _ := strconv.ParseUint(s, 10, 64)
		if i >= 8 { // guest time is already in user
			break
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return total - idle, total
}

// vmRSS reads VmRSS of a process in KiB; 0 when unknown.
func vmRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func countFDs(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// rssSampler reads the proxy's VmRSS periodically.
type rssSampler struct {
	pid     int
	done    chan struct{}
	stopped chan struct{}
	samples []int64
}

func startRSS(ctx context.Context, pid int, every time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, done: make(chan struct{}), stopped: make(chan struct{})}
	if pid <= 0 {
		close(s.stopped)
		return s
	}
	s.samples = append(s.samples, vmRSS(pid))
	go func() {
		defer close(s.stopped)
		if every <= 0 {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.done:
				return
			case <-t.C:
				s.samples = append(s.samples, vmRSS(pid))
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() []int64 {
	close(s.done)
	<-s.stopped
	if s.pid > 0 {
		s.samples = append(s.samples, vmRSS(s.pid))
	}
	return s.samples
}

func resetUpstream(addr string) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/reset")
	req.Header.SetMethod(fasthttp.MethodPost)
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		return fmt.Errorf("reset upstream counters: %w", err)
	}
	if resp.StatusCode() != fasthttp.StatusNoContent {
		return fmt.Errorf("reset upstream counters: status %d", resp.StatusCode())
	}
	return nil
}

func upstreamStatsOf(addr string) (upstreamStats, error) {
	var st upstreamStats
	sc, body, err := fasthttp.GetTimeout(nil, "http://"+addr+"/stats", 5*time.Second)
	if err != nil {
		return st, fmt.Errorf("read upstream counters: %w", err)
	}
	if sc != fasthttp.StatusOK {
		return st, fmt.Errorf("read upstream counters: status %d", sc)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("decode upstream counters: %w", err)
	}
	return st, nil
}
