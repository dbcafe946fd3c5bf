package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/oidctest"
	"github.com/sidekey/sidekey/internal/testbin"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// TestAdminBinaryOIDC runs `sidekey admin --oidc-issuer` against a real
// OpenID Connect provider on https with a private CA (--oidc-ca-file): the
// flags reach the API (audience, group and claim mapping), the UI's CSP
// names the provider's token endpoint once it is discovered, and provider
// tokens work.
func TestAdminBinaryOIDC(t *testing.T) {
	vault := vaulttest.Start(t)
	p := oidctest.Start(t, oidctest.Options{Users: []oidctest.User{
		{ID: "id-ada", Username: "ada", Password: "pw-ada-123456", Claims: map[string]any{"teams": []string{"platform-admins"}, "tenant": "acme"}},
		{ID: "id-nora", Username: "nora", Password: "pw-nora-123456", Claims: map[string]any{"teams": []string{"staff"}, "tenant": "acme"}},
	}, TLS: true})
	dir := t.TempDir()
	vaultToken := testbin.WriteFile(t, dir, "vault-token", vault.AdminToken(t))
	addr, metrics := testbin.FreeHostPort(t), testbin.FreeHostPort(t)
	admin := testbin.Daemon(t, "admin", sidekeyBin, "admin", "--listen", addr, "--metrics-listen", metrics,
		"--oidc-issuer", p.Issuer, "--oidc-client-id", p.ClientID, "--oidc-ca-file", p.CAFile,
		"--claim-org", "tenant", "--claim-groups", "teams", "--group-org-admin", "platform-admins",
		"--vault-addr", vault.Addr, "--vault-token-file", vaultToken)
	if err := testbin.PollOK("http://"+metrics+"/readyz", admin); err != nil {
		t.Fatalf("admin not ready: %v", err)
	}

	get := func(path, token string) (int, http.Header, string) {
		t.Helper()
		r := call(t, addr, "GET", path, token, nil, nil)
		return r.StatusCode, r.Header, string(r.Body)
	}
	// Before discovery the UI may only talk to its own origin.
	if _, h, _ := get("/", ""); !strings.Contains(h.Get("Content-Security-Policy"), "connect-src 'self';") {
		t.Errorf("CSP before discovery: %q", h.Get("Content-Security-Policy"))
	}
	if code, _, body := get("/v1/auth/config", ""); code != 200 || !strings.Contains(body, `"mode":"oidc"`) || !strings.Contains(body, `"token_endpoint":"`+p.Issuer) {
		t.Fatalf("auth config: %d %s", code, body)
	}
	if _, h, _ := get("/", ""); !strings.Contains(h.Get("Content-Security-Policy"), "connect-src 'self' "+p.Issuer+";") {
		t.Errorf("CSP after discovery: %q", h.Get("Content-Security-Policy"))
	}
	const list = "/v1/orgs/acme/domains/billing/secrets"
	if code, _, body := get(list, p.Login(t, "ada", "pw-ada-123456")); code != 200 {
		t.Errorf("org admin by group: %d %s", code, body)
	}
	if code, _, _ := get(list, p.Login(t, "nora", "pw-nora-123456")); code != 403 {
		t.Errorf("no role: %d, want 403", code)
	}
	if code, _, _ := get(list, p.Forge(t, map[string]any{"aud": "another", "teams": []string{"platform-admins"}, "tenant": "acme"})); code != 401 {
		t.Errorf("another audience: %d, want 401", code)
	}
}
