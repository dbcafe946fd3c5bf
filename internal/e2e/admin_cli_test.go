package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sidekey/sidekey/adminapi"
	"github.com/sidekey/sidekey/internal/testbin"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// TestAdminBinaryJWKS runs `sidekey admin` with an ES256 JWKS, issuer and
// audience (the audience from SIDEKEY_JWT_AUDIENCE), CORS, and the UI;
// checks who gets in, the headers, and that SIGTERM exits 0.
func TestAdminBinaryJWKS(t *testing.T) {
	vault := vaulttest.Start(t)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1"}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	jwks := testbin.WriteFile(t, dir, "jwks.json", string(set))
	vaultToken := testbin.WriteFile(t, dir, "vault-token", vault.AdminToken(t))
	addr, metrics := testbin.FreeHostPort(t), testbin.FreeHostPort(t)

	logs := &testbin.Output{}
	cmd := exec.Command(sidekeyBin, "admin", "--listen", addr, "--metrics-listen", metrics,
		"--jwt-jwks-file", jwks, "--jwt-issuer", "https://idp.example.com",
		"--cors-origins", "https://console.example.com",
		"--vault-addr", vault.Addr, "--vault-token-file", vaultToken)
	cmd.Env = append(os.Environ(), "SIDEKEY_JWT_AUDIENCE=sidekey-admin")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("admin logs:\n%s", logs.String())
		}
	}()
	testbin.WaitOK(t, "http://"+metrics+"/readyz")

	es256 := func(aud string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, adminapi.Claims{
			RegisteredClaims: jwt.RegisteredClaims{Subject: "erin", Issuer: "https://idp.example.com",
				Audience: jwt.ClaimStrings{aud}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
			Role: adminapi.RoleDomainAdmin, Org: "acme", Domains: []string{"billing"},
		})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs256, err := adminapi.MintHS256([]byte(strings.Repeat("k", 40)), adminapi.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "erin", Issuer: "https://idp.example.com",
			Audience: jwt.ClaimStrings{"sidekey-admin"}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Role: adminapi.RoleOrgAdmin, Org: "acme",
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string, hdr map[string]string) reply {
		t.Helper()
		return call(t, addr, "GET", path, token, nil, hdr)
	}

	const list = "/v1/orgs/acme/domains/billing/secrets"
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"ES256 from the JWKS", es256("sidekey-admin"), 200},
		{"ES256, audience of another service", es256("other"), 401},
		{"HS256 (alg not of the configured key)", hs256, 401},
		{"no token", "", 401},
	} {
		if resp := get(list, c.token, nil); resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
	if resp := get("/v1/orgs/acme/domains/other/secrets", es256("sidekey-admin"), nil); resp.StatusCode != 403 {
		t.Errorf("domain admin on another domain: %d", resp.StatusCode)
	}

	resp := get(list, es256("sidekey-admin"), map[string]string{"Origin": "https://console.example.com"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://console.example.com" ||
		resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("API headers: %v", resp.Header)
	}
	resp = get("/", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(string(resp.Body)), "<html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("UI at /: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if resp := get("/v1/openapi.json", "", nil); resp.StatusCode != 200 {
		t.Errorf("openapi: %d", resp.StatusCode)
	}

	t.Log("sending SIGTERM")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Errorf("sidekey admin after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sidekey admin did not exit within 20s of SIGTERM")
	}
}
