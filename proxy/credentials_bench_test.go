package proxy

import (
	"crypto/x509"
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
	port := serveFastUpstream(b, &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"name":"projects/p/messages/1"}`) }})

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
	tp := serveProxy(b, Config{
		Resolver: res, Keys: testKeys, CA: testCA(b), AllowUpstreamCIDRs: loopbackCIDRs, UpstreamRoots: roots,
		LookupNetIP: loopbackLookup, AllowPlainHTTPInjection: true, ScrubResponses: true,
	}, zap.NewNop())

	auth := "Basic " + b64(testKeys.UserPass(testTenant))
	body := `{"message":{"token":"device","notification":{"title":"hi"}}}`
	head := "POST http://" + upstreamHost + ":" + port + "/v1/projects/p/messages:send HTTP/1.1\r\nHost: " + upstreamHost + ":" + port +
		"\r\nProxy-Authorization: " + auth + "\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	for _, bc := range []struct{ name, authz string }{
		{"plain-token", "Bearer {{secrets.weather_fx}}"},
		{"google-access-token", `Bearer {{secrets.fcm | google_access_token("` + fcmScope + `")}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := dialBench(b, tp.addr)
			raw := []byte(head + "Authorization: " + bc.authz + "\r\n\r\n" + body)
			c.send(b, raw) // the first request mints the token
			exchanges := tokens.Exchanges()
			b.ReportAllocs()
			for b.Loop() {
				c.send(b, raw)
			}
			if tokens.Exchanges() != exchanges {
				b.Fatal("a timed request reached the token endpoint")
			}
		})
	}
}
