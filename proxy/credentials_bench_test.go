package proxy

import (
	"bufio"
	"context"
	"crypto/x509"
	"net"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/credential/credtest"
	"github.com/sidekey/sidekey/internal/secret"
)

// BenchmarkForwardDerivedToken compares, in one run, a keep-alive request
// whose Authorization is a plain token injection with the same request
// whose Authorization is an FCM-style google_access_token (minted once by a
// local token endpoint before the timer starts, then served from the token
// cache). Absolute-form http:// to a fasthttp upstream on loopback.
//
//	go test -run '^$' -bench BenchmarkForwardDerivedToken -benchmem -count 5 ./proxy/
func BenchmarkForwardDerivedToken(b *testing.B) {
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	upSrv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"name":"projects/p/messages/1"}`) }}
	go func() { _ = upSrv.Serve(upLn) }()
	defer func() { _ = upSrv.Shutdown() }()
	port := strconv.Itoa(upLn.Addr().(*net.TCPAddr).Port)

	tokens := credtest.NewGoogleTokenServer(fcmEmail, fcmScope, 3600)
	defer tokens.Close()
	sa := credtest.NewRSAKey(b, "kid-bench")
	tokens.AddKey(sa)
	roots := x509.NewCertPool()
	roots.AddCert(tokens.Certificate())

	res := newFakeResolver()
	res.put(testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	res.put(testTenant, "fcm", secret.Secret{Type: secret.TypeJSON, Kind: "google_service_account", Version: 1,
		Value: secret.Value{JSON: credtest.ServiceAccountJSON(b, fcmEmail, tokens.URL, sa)}})
	p, err := New(Config{
		Resolver: res, Keys: testKeys, CA: testCA(b), AllowUpstreamCIDRs: loopbackCIDRs, UpstreamRoots: roots,
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
	body := `{"message":{"token":"device","notification":{"title":"hi"}}}`
	head := "POST http://" + upstreamHost + ":" + port + "/v1/projects/p/messages:send HTTP/1.1\r\nHost: " + upstreamHost + ":" + port +
		"\r\nProxy-Authorization: " + auth + "\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	for _, bc := range []struct{ name, authz string }{
		{"plain-token", "Bearer {{secrets.weather_fx}}"},
		{"google-access-token", `Bearer {{secrets.fcm | google_access_token("` + fcmScope + `")}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			br := bufio.NewReader(c)
			raw := []byte(head + "Authorization: " + bc.authz + "\r\n\r\n" + body)
			var resp fasthttp.Response
			send := func() {
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
			send() // the first request mints the token
			exchanges := tokens.Exchanges()
			b.ReportAllocs()
			for b.Loop() {
				send()
			}
			if tokens.Exchanges() != exchanges {
				b.Fatal("a timed request reached the token endpoint")
			}
		})
	}
}
