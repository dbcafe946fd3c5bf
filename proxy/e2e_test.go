package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sidekey/sidekey/internal/ops"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
	"github.com/sidekey/sidekey/vaultstore"
)

// vaultEnv is a real dev Vault with an admin store (to write secrets, as
// the admin API does) and the sidecar's cached reader (sidecar policy).
type vaultEnv struct {
	srv   *vaulttest.Server
	admin *vaultstore.Writer
	side  *vaultstore.Reader
	cache *vaultstore.Cache
	// reg holds the cache's metrics; startVaultProxy registers the proxy's
	// there too, as cmd/sidekey does.
	reg *prometheus.Registry
}

func startVault(t *testing.T) *vaultEnv {
	t.Helper()
	srv := vaulttest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	admin, err := vaultstore.NewWriter(ctx, vaultstore.Config{Address: srv.Addr, Auth: vaultstore.AuthConfig{Token: srv.AdminToken(t)}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	side, err := vaultstore.NewReader(ctx, vaultstore.Config{Address: srv.Addr, Auth: vaultstore.AuthConfig{Token: srv.SidecarToken(t)}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v := &vaultEnv{srv: srv, admin: admin, side: side, reg: ops.NewRegistry()}
	v.cache, err = vaultstore.NewCache(side, vaultstore.CacheConfig{
		FeedInterval: 250 * time.Millisecond, NegativeTTL: 500 * time.Millisecond,
		Registerer: v.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = v.cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return v
}

func (v *vaultEnv) create(t *testing.T, tn secret.Tenant, alias string, s secret.Secret) {
	t.Helper()
	_, err := v.admin.Create(context.Background(), tn, secret.CreateInput{
		Alias: alias, Type: s.Type, Value: s.Value, AllowedHosts: s.AllowedHosts, Actor: "proxy-e2e",
	})
	if err != nil {
		t.Fatalf("create %s/%s: %v", tn, alias, err)
	}
}

// startVaultProxy runs a proxy whose resolver is the vaultstore cache.
func startVaultProxy(t *testing.T, v *vaultEnv, mutate func(*Config)) *testProxy {
	t.Helper()
	tp := startProxy(t, func(c *Config) {
		c.Resolver = v.cache
		c.Ping = v.side.Ping
		c.Registerer = v.reg
		if mutate != nil {
			mutate(c)
		}
	})
	return tp
}

// TestE2EVaultReadMetric checks that sidekey_vault_read_seconds counts the
// cache's Vault reads by outcome and not the answers from memory.
func TestE2EVaultReadMetric(t *testing.T) {
	v := startVault(t)
	v.create(t, testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	tp := startVaultProxy(t, v, nil)
	up := newUpstream(t, true)
	send := func(alias string) int {
		req := mustReq("GET", up.url("/x"), nil, "")
		req.Header.Set("Authorization", "Bearer {{secrets."+alias+"}}")
		resp, _ := clientRequest(t, tp, req, testTenant) //nolint:bodyclose // the helper read and closed the body
		return resp.StatusCode
	}
	count := func(outcome string) int {
		t.Helper()
		return int(metricValue(t, tp, `sidekey_vault_read_seconds_count{outcome="`+outcome+`"}`))
	}
	if n := count("ok"); n != 0 {
		t.Fatalf("%d ok reads before any request", n)
	}
	if code := send("weather_fx"); code != 200 {
		t.Fatalf("cold request: %d", code)
	}
	cold := count("ok")
	if cold != 1 {
		t.Fatalf("%d ok reads observed after the cold request, want 1", cold)
	}
	st := v.cache.Stats()
	if code := send("weather_fx"); code != 200 {
		t.Fatalf("second request: %d", code)
	}
	// The second answer came from memory unless the change feed flushed
	// the cache in between (its first poll may): then it was a read.
	st2 := v.cache.Stats()
	if st2.Hits == st.Hits && st2.Reads == st.Reads {
		t.Fatalf("the second request was neither a hit nor a read: %+v", st2)
	}
	if got, want := count("ok"), cold+int(st2.Reads-st.Reads); got != want {
		t.Fatalf("ok reads observed: %d, want %d (hits %d -> %d)", got, want, st.Hits, st2.Hits)
	}
	if code := send("no_such_alias"); code == 200 {
		t.Fatal("an unknown alias was injected")
	}
	if n := count("not_found"); n != 1 {
		t.Fatalf("not_found reads observed: %d, want 1", n)
	}
	if n := count("error"); n != 0 {
		t.Fatalf("error reads observed: %d, want 0", n)
	}
}

func TestE2EVaultInjectionMatrix(t *testing.T) {
	v := startVault(t)
	for alias, s := range matrixSecrets() {
		v.create(t, testTenant, alias, s)
	}
	tp := startVaultProxy(t, v, func(c *Config) { c.AllowPlainHTTPInjection = true })
	runMatrix(t, tp, newUpstream(t, true), newUpstream(t, false))
}

func TestE2EVaultFailClosed(t *testing.T) {
	v := startVault(t)
	for alias, s := range matrixSecrets() {
		v.create(t, testTenant, alias, s)
	}
	v.create(t, otherTenant, "support_only", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "support-secret-value"}})
	v.create(t, testTenant, "elsewhere", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "elsewhere-value-123"}, AllowedHosts: []string{"api.other.example"}})
	v.create(t, testTenant, "crlf", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "abc\r\nX-Injected: 1"}})
	tp := startVaultProxy(t, v, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	runFailCases(t, tp, newUpstream(t, true), newUpstream(t, false), failCases(t))
}

// TestE2EArchivePropagates archives a secret that the proxy has cached and
// checks that the proxy refuses it within two seconds.
func TestE2EArchivePropagates(t *testing.T) {
	v := startVault(t)
	v.create(t, testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	tp := startVaultProxy(t, v, nil)
	up := newUpstream(t, true)
	send := func() (*http.Response, []byte) { return clientRequest(t, tp, bearerRequest(up.url("/x")), testTenant) }
	if resp, body := send(); resp.StatusCode != 200 { //nolint:bodyclose // send read and closed the body
		t.Fatalf("before archive: %d %s", resp.StatusCode, body)
	}
	if _, err := v.admin.Archive(context.Background(), testTenant, "weather_fx", "proxy-e2e"); err != nil {
		t.Fatal(err)
	}
	archived := time.Now()
	forwarded := up.count()
	var resp *http.Response
	var body []byte
	for {
		resp, body = send() //nolint:bodyclose // send read and closed the body
		if resp.StatusCode != 200 || time.Since(archived) > 2*time.Second {
			break
		}
		forwarded = up.count()
		time.Sleep(100 * time.Millisecond)
	}
	wantError(t, resp, body, CodeSecretNotFound)
	if up.count() != forwarded {
		t.Fatal("a refused request reached the upstream")
	}
	t.Logf("archive refused after %v", time.Since(archived).Round(time.Millisecond))
}

// TestE2EVaultDownColdCache stops Vault before any secret is cached.
func TestE2EVaultDownColdCache(t *testing.T) {
	v := startVault(t)
	v.create(t, testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	tp := startVaultProxy(t, v, nil)
	up := newUpstream(t, true)
	v.srv.Stop(t)
	resp, body := absoluteRequest(t, tp, bearerRequest(up.url("/x")), &testTenant) //nolint:bodyclose // the helper read and closed the body
	wantRefused(t, resp, body, CodeStoreUnavailable, up)
}

// TestE2EReadiness checks /readyz turns ready once Vault answered and the
// metrics carry no value.
func TestE2EReadinessAndMetrics(t *testing.T) {
	v := startVault(t)
	v.create(t, testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	tp := startVaultProxy(t, v, nil)
	ops := httptestServer(t, tp.ops)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(ops + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	up := newUpstream(t, true)
	up.answer = echoAnswer
	clientRequest(t, tp, bearerRequest(up.url("/x")), testTenant) //nolint:bodyclose // the helper read and closed the body
	metricsText := tp.metrics(t)
	for _, want := range []string{
		`sidekey_proxy_requests_total{code="ok",mode="intercepted"} 1`,
		`sidekey_proxy_injections_total{location="header"} 1`,
		`sidekey_proxy_scrubbed_total{part="header"} 1`,
		`sidekey_cache_misses_total 1`,
		"sidekey_proxy_upstream_seconds_bucket",
		"sidekey_proxy_secret_resolve_seconds_bucket",
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(metricsText, simpleValue) || strings.Contains(metricsText, "weather_fx") {
		t.Fatal("metrics carry a value or an alias")
	}

}

// TestE2ERotatePropagates rotates a cached secret and checks that the
// proxy injects the new value within two seconds.
func TestE2ERotatePropagates(t *testing.T) {
	v := startVault(t)
	v.create(t, testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	tp := startVaultProxy(t, v, nil)
	up := newUpstream(t, true)
	send := func() string {
		if resp, _ := clientRequest(t, tp, bearerRequest(up.url("/x")), testTenant); resp.StatusCode != 200 { //nolint:bodyclose // the helper read and closed the body
			t.Fatalf("status %d", resp.StatusCode)
		}
		reqs := up.requests()
		return reqs[len(reqs)-1].Header.Get("Authorization")
	}
	if got := send(); got != "Bearer "+simpleValue {
		t.Fatalf("before rotation: %s", fp([]byte(got)))
	}
	const rotated = "rotated-value-0987654321"
	if _, err := v.admin.Rotate(context.Background(), testTenant, "weather_fx", secret.RotateInput{Value: secret.Value{Token: rotated}, Actor: "proxy-e2e"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := send()
	for got != "Bearer "+rotated && time.Since(start) < 2*time.Second {
		time.Sleep(100 * time.Millisecond)
		got = send()
	}
	if got != "Bearer "+rotated {
		t.Fatalf("the rotated value did not reach the proxy within 2 s: %s", fp([]byte(got)))
	}
}
