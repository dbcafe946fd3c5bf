package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/net/http/httpproxy"

	"github.com/sidekey/sidekey/internal/secret"
)

// TestRealClients drives the proxy with curl, Python requests and Go's
// net/http configured from HTTPS_PROXY, against a real Vault and real TLS
// upstreams. The upstream echoes what it received, so each client's view
// also shows the response scrubbing.
func TestRealClients(t *testing.T) {
	v := startVault(t)
	v.create(t, testTenant, "weather_fx", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	v.create(t, testTenant, "cfg", secret.Secret{Type: secret.TypeJSON, Value: secret.Value{JSON: json.RawMessage(cfgJSON)}})
	tp := startVaultProxy(t, v, func(c *Config) { c.AllowPlainHTTPInjection = true })
	tlsUp, plainUp := newUpstream(t, true), newUpstream(t, false)
	tlsUp.answer, plainUp.answer = echoAnswer, echoAnswer

	dir := t.TempDir()
	caFile := filepath.Join(dir, "sidekey-ca.pem")
	if err := os.WriteFile(caFile, tp.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	const body = `{"key":"{{secrets.cfg.api.key}}","auth":"{{secrets.weather_fx}}"}`
	wantUpstream := `{"key":"` + cfgKey + `","auth":"` + simpleValue + `"}`

	check := func(t *testing.T, up *upstream, before int, out []byte) {
		t.Helper()
		reqs := up.requests()
		if len(reqs) != before+1 {
			t.Fatalf("upstream got %d requests, want 1; client said %s", len(reqs)-before, out)
		}
		got := reqs[len(reqs)-1]
		wantEqual(t, "upstream body", got.Body, []byte(wantUpstream))
		wantEqual(t, "upstream Authorization", []byte(got.Header.Get("Authorization")), []byte("Bearer "+simpleValue))
		if bytes.Contains(out, []byte(simpleValue)) || bytes.Contains(out, []byte(cfgKey)) {
			t.Fatal("the client saw an injected value")
		}
		if !bytes.Contains(out, []byte(`{{secrets.weather_fx}}`)) {
			t.Fatalf("the client's answer is not the scrubbed echo: %s", fp(out))
		}
	}

	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required (make deps installs it)")
	}
	for _, tc := range []struct {
		name string
		up   *upstream
	}{{"curl CONNECT", tlsUp}, {"curl absolute http", plainUp}} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.up.count()
			cmd := exec.Command(curl, "-sS", "--globoff", "--fail-with-body",
				"--proxy", "http://"+tp.addr, "--proxy-user", tp.userPass(testTenant), "--cacert", caFile,
				"-H", "Authorization: Bearer {{secrets.weather_fx}}", "-H", "Content-Type: application/json",
				"--data-binary", body, tc.up.url("/curl"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v: %s", err, out)
			}
			check(t, tc.up, before, out)
		})
	}

	t.Run("curl sees the error code", func(t *testing.T) {
		cmd := exec.Command(curl, "-sS", "--globoff", "-i",
			"--proxy", "http://"+tp.addr, "--proxy-user", tp.userPass(testTenant), "--cacert", caFile,
			"-H", "Authorization: Bearer {{secrets.unknown}}", tlsUp.url("/curl"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		if !bytes.Contains(out, []byte("422")) || !bytes.Contains(bytes.ToLower(out), []byte("sidekey-error: secret_not_found")) {
			t.Fatalf("curl got: %s", out)
		}
	})

	t.Run("Go net/http with HTTPS_PROXY", func(t *testing.T) {
		pu := tp.proxyURL(testTenant)
		t.Setenv("HTTPS_PROXY", pu.String())
		t.Setenv("NO_PROXY", "")
		proxyFunc := httpproxy.FromEnvironment().ProxyFunc()
		c := tp.client(testTenant)
		c.Transport.(*http.Transport).Proxy = func(r *http.Request) (*url.URL, error) { return proxyFunc(r.URL) }
		before := tlsUp.count()
		req := mustReq("POST", tlsUp.url("/go"), []byte(body), "application/json")
		req.Header.Set("Authorization", "Bearer {{secrets.weather_fx}}")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		out := new(bytes.Buffer)
		_, _ = out.ReadFrom(resp.Body)
		check(t, tlsUp, before, out.Bytes())
	})

	t.Run("Python requests", func(t *testing.T) {
		py, err := exec.LookPath("python3")
		if err != nil {
			t.Skip("python3 not installed")
		}
		if exec.Command(py, "-c", "import requests").Run() != nil {
			t.Skip("python requests not installed")
		}
		const script = `
import sys, requests
proxy, ca, url, body = sys.argv[1:5]
r = requests.post(url, data=body.encode(), proxies={"http": proxy, "https": proxy}, verify=ca, timeout=20,
                  headers={"Authorization": "Bearer {{secrets.weather_fx}}", "Content-Type": "application/json"})
sys.stdout.write(r.text)
sys.exit(0 if r.status_code == 200 else 1)
`
		for _, up := range []*upstream{tlsUp, plainUp} {
			before := up.count()
			cmd := exec.Command(py, "-c", script, tp.proxyURL(testTenant).String(), caFile, up.url("/py"), body)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python: %v: %s", err, out)
			}
			check(t, up, before, out)
		}
	})

}
