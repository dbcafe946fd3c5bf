package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
)

// Budgets of one idle intercepted connection, client side included (the
// client's connections hold no goroutine). The serving goroutine's stack
// grows by doubling: 16 KiB means that it kept a grown stack.
const (
	idleGoroutinesPerConn = 1.5
	idleStackPerConn      = 12 << 10
)

// TestIdleInterceptedConns opens idle intercepted connections (CONNECT,
// TLS, one request each), checks every one is served and kept open, and
// that each idles on one goroutine with an 8 KiB stack (about 8 MiB per
// 1,000 idle connections otherwise). With "deep", every request needs a
// 32 KiB stack (its secret resolves deep down, as a cache miss reading
// Vault does): the garbage collector must halve it back to 8 KiB once the
// connection idles, which it does only for a stack less than a quarter
// used. The stack budget is not checked with -race, whose frames are
// larger. With SIDEKEY_IDLE_PROFILE=dir it also writes heap and goroutine
// profiles:
//
//	SIDEKEY_IDLE_PROFILE=/tmp/idle go test -run TestIdleInterceptedConns -v ./proxy/
func TestIdleInterceptedConns(t *testing.T) {
	for _, deep := range []bool{false, true} {
		name := "shallow"
		if deep {
			name = "deep"
		}
		t.Run(name, func(t *testing.T) { testIdleInterceptedConns(t, deep) })
	}
}

func testIdleInterceptedConns(t *testing.T, deep bool) {
	const n = 200
	tp := startProxy(t, func(c *Config) {
		if deep {
			c.Resolver = deepResolver{c.Resolver}
		}
	})
	tp.resolver.put(testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	up := newUpstream(t, true)
	target := upstreamHost + ":" + up.port()
	pool := x509.NewCertPool()
	pool.AddCert(tp.ca.Cert)
	dir := os.Getenv("SIDEKEY_IDLE_PROFILE")
	if dir != "" {
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}

	measure := func() (runtime.MemStats, int) {
		for range 6 {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms, runtime.NumGoroutine()
	}
	before, g0 := measure()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range n {
		raw, err := net.DialTimeout("tcp", tp.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, raw)
		_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(raw, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\nProxy-Authorization: "+tp.authHeader(testTenant)+"\r\n\r\n")
		br := bufio.NewReader(raw)
		resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || br.Buffered() != 0 {
			t.Fatalf("connect %d: %d", i, resp.StatusCode)
		}
		c := tls.Client(raw, &tls.Config{ServerName: upstreamHost, RootCAs: pool, MinVersion: tls.VersionTLS12})
		conns[i] = c
		_, _ = io.WriteString(c, "GET /idle/"+strconv.Itoa(i)+" HTTP/1.1\r\nHost: "+target+"\r\nAuthorization: Bearer {{secrets.weather_fx}}\r\n\r\n")
		resp, err = http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "upstream ok" {
			t.Fatalf("request %d: %d, %d body bytes", i, resp.StatusCode, len(body))
		}
		_ = raw.SetDeadline(time.Time{})
	}
	if got := up.count(); got != n {
		t.Fatalf("upstream saw %d requests, want %d", got, n)
	}
	for i, r := range up.requests() {
		if r.Header.Get("Authorization") != "Bearer "+simpleValue {
			t.Fatalf("request %d: Authorization not injected (%d bytes)", i, len(r.Header.Get("Authorization")))
		}
	}
	if got := tp.p.tunnels.count.Load(); got != n {
		t.Fatalf("%d tunnels open, want %d", got, n)
	}
	after, g1 := measure()
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / n }
	goroutines, stack := float64(g1-g0)/n, per(after.StackInuse, before.StackInuse)
	t.Logf("per idle intercepted connection (client side included): heap in use %.1f KiB, stacks %.1f KiB, goroutines %.2f",
		per(after.HeapInuse, before.HeapInuse)/1024, stack/1024, goroutines)
	if goroutines > idleGoroutinesPerConn {
		t.Errorf("%.2f goroutines per idle connection, want at most %.1f", goroutines, idleGoroutinesPerConn)
	}
	switch {
	case raceEnabled():
		t.Logf("stack budget not checked with -race")
	case stack > idleStackPerConn:
		t.Errorf("%.1f KiB of goroutine stack per idle connection, want at most %d KiB", stack/1024, idleStackPerConn>>10)
	}
	if dir == "" {
		return
	}
	for _, name := range []string{"heap", "goroutine"} {
		f, err := os.Create(dir + "/" + name + ".pprof")
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
}

// deepResolver resolves below about 24 KiB of stack, so that the goroutine
// serving the request grows its stack to 32 KiB.
type deepResolver struct{ Resolver }

func (r deepResolver) Resolve(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error) {
	var s secret.Secret
	var err error
	onDeepStack(24, func() { s, err = r.Resolver.Resolve(ctx, t, alias) })
	return s, err
}

// onDeepStack calls f below n frames of 1 KiB each.
func onDeepStack(n int, f func()) byte {
	var frame [1 << 10]byte
	frame[n%len(frame)] = byte(n)
	if n == 0 {
		f()
	} else {
		frame[0] = onDeepStack(n-1, f)
	}
	return frame[n%len(frame)]
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
