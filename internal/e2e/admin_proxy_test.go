package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/testbin"
	"github.com/sidekey/sidekey/internal/testupstream"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// propagation is SPEC §4's bound on rotation and archive reaching every
// sidecar ("within about two seconds").
const propagation = 2 * time.Second

var sidekeyBin string

func TestMain(m *testing.M) { testbin.Main(m, "sidekey-e2e-", &sidekeyBin) }

// TestAdminAPIToProxy: a secret created through the admin API is injected
// by the proxy; a rotation reaches the proxy within 2 s, and so does an
// archive (then secret_not_found).
func TestAdminAPIToProxy(t *testing.T) {
	vault := vaulttest.Start(t)
	dir := t.TempDir()
	adminVaultToken := testbin.WriteFile(t, dir, "admin.vault-token", vault.AdminToken(t))
	sidecarVaultToken := testbin.WriteFile(t, dir, "sidecar.vault-token", vault.SidecarToken(t))
	jwtKey := testbin.WriteFile(t, dir, "jwt.key", testbin.RandomString(t, "jwt-key-")+"\n")
	tenantKey := testbin.WriteFile(t, dir, "tenant.keys", testbin.RandomString(t, "tenant-key-")+"\n")
	testbin.Run(t, sidekeyBin, "ca", "init", "--out", filepath.Join(dir, "ca"))

	// The upstream records the Authorization header it received.
	upstream := testupstream.Start(t, testupstream.Options{Handle: func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		_, _ = io.WriteString(w, "sent")
	}})
	lastSeen := func() string {
		last, _ := upstream.Last()
		return last.Header.Get("Authorization")
	}
	upstreamCA := testbin.WriteFile(t, dir, "upstream.pem", string(upstream.CAPEM()))

	adminAddr, proxyAddr := testbin.FreeHostPort(t), testbin.FreeHostPort(t)
	adminMetrics, proxyMetrics := testbin.FreeHostPort(t), testbin.FreeHostPort(t)
	adminLogs := testbin.Daemon(t, "admin", sidekeyBin, "admin", "--log-level", "debug", "--listen", adminAddr, "--metrics-listen", adminMetrics,
		"--jwt-hs256-key-file", jwtKey, "--vault-addr", vault.Addr, "--vault-token-file", adminVaultToken)
	proxyLogs := testbin.Daemon(t, "proxy", sidekeyBin, "proxy", "--log-level", "debug", "--listen", proxyAddr, "--metrics-listen", proxyMetrics,
		"--ca-cert", filepath.Join(dir, "ca", "ca.crt"), "--ca-key", filepath.Join(dir, "ca", "ca.key"),
		"--tenant-key-file", tenantKey, "--allow-upstream-cidr", "127.0.0.0/8", "--upstream-ca", upstreamCA,
		"--vault-addr", vault.Addr, "--vault-token-file", sidecarVaultToken)
	testbin.WaitOK(t, "http://"+adminMetrics+"/readyz")
	testbin.WaitOK(t, "http://"+proxyMetrics+"/readyz")

	adminToken := testbin.Run(t, sidekeyBin, "token", "admin", "--key-file", jwtKey, "--role", "domain_admin",
		"--org", "acme", "--domain", "billing", "--sub", "e2e")
	proxyAuth := testbin.Run(t, sidekeyBin, "token", "proxy", "--key-file", tenantKey, "--org", "acme", "--domain", "billing", "--format", "header")

	admin := func(method, path string, body any) int {
		t.Helper()
		return call(t, adminAddr, method, "/v1/orgs/acme/domains/billing"+path, adminToken, body, nil).StatusCode
	}

	caPEM, err := os.ReadFile(filepath.Join(dir, "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the Sidekey CA is not PEM")
	}
	proxyURL, err := url.Parse("http://" + proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:              http.ProxyURL(proxyURL),
			ProxyConnectHeader: http.Header{"Proxy-Authorization": {proxyAuth}},
			TLSClientConfig:    &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DisableKeepAlives:  true,
		},
	}
	// send makes one templated call through the proxy and returns the
	// status and the Sidekey-Error code.
	send := func() (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), "POST", upstream.URL()+"/notify", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer {{secrets.Weather_FX}}")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request through the proxy: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Sidekey-Error")
	}

	v1, v2 := testbin.RandomString(t, "v1-"), testbin.RandomString(t, "v2-")
	if s := admin("POST", "/secrets", map[string]any{"alias": "weather_fx", "type": "token",
		"value": map[string]any{"token": v1}, "allowed_hosts": []string{"127.0.0.1"}}); s != http.StatusCreated {
		t.Fatalf("create: %d", s)
	}
	if status, code := send(); status != http.StatusOK {
		t.Fatalf("first request: %d %s", status, code)
	}
	if seen := lastSeen(); seen != "Bearer "+v1 {
		t.Fatalf("the upstream got %s, want the created value (%s)", testbin.Fingerprint(seen), testbin.Fingerprint("Bearer "+v1))
	}

	if s := admin("PUT", "/secrets/weather_fx", map[string]any{"value": map[string]any{"token": v2}}); s != http.StatusOK {
		t.Fatalf("rotate: %d", s)
	}
	rotated := time.Now()
	for {
		if status, code := send(); status != http.StatusOK {
			t.Fatalf("request after rotation: %d %s", status, code)
		}
		if lastSeen() == "Bearer "+v2 {
			t.Logf("rotation reached the proxy in %v", time.Since(rotated).Round(time.Millisecond))
			break
		}
		if time.Since(rotated) > propagation {
			t.Fatalf("after %v the upstream still gets %s, not the rotated value", propagation, testbin.Fingerprint(lastSeen()))
		}
		time.Sleep(50 * time.Millisecond)
	}

	if s := admin("DELETE", "/secrets/weather_fx", nil); s != http.StatusNoContent {
		t.Fatalf("archive: %d", s)
	}
	archived := time.Now()
	for {
		status, code := send()
		if status == http.StatusUnprocessableEntity && code == "secret_not_found" {
			t.Logf("archive reached the proxy in %v", time.Since(archived).Round(time.Millisecond))
			break
		}
		if status != http.StatusOK {
			t.Fatalf("request after archive: %d %q, want 200 then 422 secret_not_found", status, code)
		}
		if time.Since(archived) > propagation {
			t.Fatalf("after %v the proxy still injects the archived secret", propagation)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// No value reached a log line of either process, and the upstream
	// never saw a placeholder.
	for name, logs := range map[string]*testbin.Output{"admin": adminLogs.Logs, "proxy": proxyLogs.Logs} {
		text := logs.String()
		if !strings.Contains(text, "weather_fx") && name == "admin" {
			t.Errorf("the admin logs do not name the alias: the scan looked at nothing")
		}
		for _, v := range []string{v1, v2} {
			if strings.Contains(text, v) {
				t.Errorf("the %s logs hold a value (%s)", name, testbin.Fingerprint(v))
			}
		}
	}
	if n := upstream.Placeholders(); n != 0 {
		t.Errorf("the upstream got %d placeholders", n)
	}
	if upstream.Count() == 0 {
		t.Errorf("the upstream got no request: the placeholder check looked at nothing")
	}
}
