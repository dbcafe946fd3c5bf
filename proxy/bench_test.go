package proxy

import (
	"bufio"
	"encoding/json"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/testbin"
)

// BenchmarkForward measures one keep-alive request through the proxy in
// absolute-form http:// to a fasthttp upstream on loopback, without and
// with injection (a header and two JSON body values, scrubbing on). The
// allocations counted are the whole process's: client, proxy and upstream.
//
//	go test -run '^$' -bench BenchmarkForward -benchmem ./proxy/
func BenchmarkForward(b *testing.B) {
	var upConns atomic.Int64
	port := serveFastUpstream(b, &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) },
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			if s == fasthttp.StateNew {
				upConns.Add(1)
			}
		},
	})

	res := newFakeResolver()
	res.put(testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	res.put(testTenant, "cfg", secret.Secret{Type: secret.TypeJSON, Value: secret.Value{JSON: json.RawMessage(cfgJSON)}})
	tp := serveProxy(b, Config{
		Resolver: res, Keys: testKeys, CA: testCA(b), AllowUpstreamCIDRs: loopbackCIDRs,
		LookupNetIP: loopbackLookup, AllowPlainHTTPInjection: true, ScrubResponses: true,
	}, zap.NewNop())

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
			c := dialBench(b, tp.addr)
			raw := []byte(bc.raw)
			conns0 := upConns.Load()
			b.ReportAllocs()
			for b.Loop() {
				c.send(b, raw)
			}
			b.ReportMetric(float64(upConns.Load()-conns0), "upstream-dials")
		})
	}
}

// serveFastUpstream serves srv on a loopback listener until the benchmark
// ends and returns its port.
func serveFastUpstream(b *testing.B, srv *fasthttp.Server) string {
	b.Helper()
	ln := testbin.Listen(b)
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// benchConn is one keep-alive client connection to the proxy.
type benchConn struct {
	c    net.Conn
	br   *bufio.Reader
	resp fasthttp.Response
}

func dialBench(b *testing.B, addr string) *benchConn {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return &benchConn{c: c, br: bufio.NewReader(c)}
}

// send writes one raw request and reads its response, which must be a 200.
func (bc *benchConn) send(b *testing.B, raw []byte) {
	if _, err := bc.c.Write(raw); err != nil {
		b.Fatal(err)
	}
	bc.resp.Reset()
	if err := bc.resp.Read(bc.br); err != nil {
		b.Fatal(err)
	}
	if bc.resp.StatusCode() != 200 {
		b.Fatalf("status %d: %s", bc.resp.StatusCode(), bc.resp.Body())
	}
}
