package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"
)

// BenchmarkForward measures one keep-alive request through the proxy in
// absolute-form http:// to a fasthttp upstream on loopback, without and
// with injection (a header and two JSON body values, scrubbing on). The
// allocations counted are the whole process's: client, proxy and upstream.
//
//	go test -run '^$' -bench BenchmarkForward -benchmem ./proxy/
func BenchmarkForward(b *testing.B) {
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var upConns atomic.Int64
	upSrv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) },
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			if s == fasthttp.StateNew {
				upConns.Add(1)
			}
		},
	}
	go func() { _ = upSrv.Serve(upLn) }()
	defer func() { _ = upSrv.Shutdown() }()
	port := strconv.Itoa(upLn.Addr().(*net.TCPAddr).Port)

	res := newFakeResolver()
	res.put(testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	res.put(testTenant, "cfg", secret.Secret{Type: secret.TypeJSON, Value: secret.Value{JSON: json.RawMessage(cfgJSON)}})
	authority := testCA(b)
	p, err := New(Config{
		Resolver: res, Keys: testKeys, CA: authority, AllowUpstreamCIDRs: loopbackCIDRs,
		LookupNetIP: loopbackLookup, AllowPlainHTTPInjection: true, ScrubResponses: true,
	}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()

	auth := "Basic " + b64(testKeys.UserPass(testTenant))
	head := "POST http://" + upstreamHost + ":" + port + "/v1/send HTTP/1.1\r\nHost: " + upstreamHost + ":" + port +
		"\r\nProxy-Authorization: " + auth + "\r\nContent-Type: application/json\r\n"
	plainBody := `{"to":"+15550100","text":"hello"}`
	injBody := `{"to":"+15550100","key":"{{secrets.cfg.api.key}}","auth":"{{secrets.weather_fx}}"}`
	for _, bc := range []struct{ name, raw string }{
		{"no-placeholders", head + "Authorization: Bearer static-token\r\nContent-Length: " + strconv.Itoa(len(plainBody)) + "\r\n\r\n" + plainBody},
		{"header+2json", head + "Authorization: Bearer {{secrets.weather_fx}}\r\nContent-Length: " + strconv.Itoa(len(injBody)) + "\r\n\r\n" + injBody},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			br := bufio.NewReader(c)
			raw := []byte(bc.raw)
			var resp fasthttp.Response
			conns0 := upConns.Load()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(raw); err != nil {
					b.Fatal(err)
				}
				resp.Reset()
				if err := resp.Read(br); err != nil {
					b.Fatal(err)
				}
				if resp.StatusCode() != 200 {
					b.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
				}
			}
			b.ReportMetric(float64(upConns.Load()-conns0), "upstream-dials")
		})
	}
}
