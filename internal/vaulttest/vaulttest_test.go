package vaulttest_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/sidekey/sidekey/internal/vaulttest"
)

func TestRestartKeepsDataAndTokens(t *testing.T) {
	srv := vaulttest.Start(t)
	token := srv.Token(t, srv.AdminPolicy(t))
	kv := srv.Client(t).KVv2("secret")
	if _, err := kv.Put(t.Context(), "sidekey/orgs/o/domains/d/secrets/a", map[string]any{"v": "x"}); err != nil {
		t.Fatalf("put: %v", err)
	}
	addr := srv.Addr

	srv.Kill(t)
	if srv.Running() {
		t.Fatal("Running after Kill")
	}
	if _, err := kv.Get(t.Context(), "sidekey/orgs/o/domains/d/secrets/a"); err == nil {
		t.Fatal("read succeeded while Vault was killed")
	}

	srv.Restart(t)
	if srv.Addr != addr {
		t.Fatalf("address changed across restart: %s -> %s", addr, srv.Addr)
	}
	sec, err := kv.Get(t.Context(), "sidekey/orgs/o/domains/d/secrets/a")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if sec.VersionMetadata.Version != 1 {
		t.Fatalf("version after restart = %d, want 1", sec.VersionMetadata.Version)
	}
	// The admin token survives the restart too.
	self, err := srv.ClientWithToken(t, token).Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("admin token after restart: %v", err)
	}
	if pol, _ := self.TokenPolicies(); len(pol) != 1 || pol[0] != "sidekey-admin" {
		t.Fatalf("admin token policies = %v, want exactly [sidekey-admin]", pol)
	}
}

func TestTokensHaveExactlyTheirPolicy(t *testing.T) {
	srv := vaulttest.Shared(t)
	sidecar := srv.ClientWithToken(t, srv.SidecarToken(t))
	_, err := sidecar.Logical().Write("secret/data/sidekey/orgs/vt/domains/d/secrets/a", map[string]any{"data": map[string]any{"v": "x"}})
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Fatalf("sidecar write: err = %v, want 403", err)
	}

	roleID, secretID := srv.AppRoleTTL(t, srv.SidecarPolicy(t), time.Minute)
	login, err := srv.Client(t).Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil {
		t.Fatalf("approle login: %v", err)
	}
	if got := login.Auth.TokenPolicies; len(got) != 1 || got[0] != "sidekey-sidecar" {
		t.Fatalf("approle token policies = %v, want exactly [sidekey-sidecar]", got)
	}
	if login.Auth.LeaseDuration != 60 {
		t.Fatalf("approle token TTL = %ds, want 60", login.Auth.LeaseDuration)
	}
}
