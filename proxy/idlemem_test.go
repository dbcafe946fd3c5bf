package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
)

// TestIdleInterceptedConns opens idle intercepted connections (CONNECT,
// TLS, one request each) and checks every one is served and kept open.
// With SIDEKEY_IDLE_PROFILE=dir it also writes heap and goroutine
// profiles and logs the runtime memory per connection:
//
//	SIDEKEY_IDLE_PROFILE=/tmp/idle go test -run TestIdleInterceptedConns -v ./proxy/
func TestIdleInterceptedConns(t *testing.T) {
	const n = 200
	tp := startProxy(t, nil)
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
	var noGC runtime.MemStats
	runtime.ReadMemStats(&noGC)
	after, g1 := measure()
	t.Logf("before any GC: stacks %.1f KiB per connection, %d GCs so far", (float64(noGC.StackInuse)-float64(before.StackInuse))/n/1024, noGC.NumGC)
	if dir == "" {
		return
	}
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / n / 1024 }
	t.Logf("per idle intercepted connection (client side included): heap in use %.1f KiB, stacks %.1f KiB, goroutines %.2f",
		per(after.HeapInuse, before.HeapInuse), per(after.StackInuse, before.StackInuse), float64(g1-g0)/n)
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
