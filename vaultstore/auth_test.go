package vaultstore

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/testbin"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// TestKubernetesLogin logs in with Vault's real Kubernetes auth method. The
// Kubernetes API that Vault asks to review the service account token is a
// stand-in (no cluster runs here) that accepts exactly the one token.
func TestKubernetesLogin(t *testing.T) {
	srv := vaulttest.Shared(t)
	kube := testbin.StartKubeAPI(t)
	saJWT := kube.ServiceAccountToken(t, "sidekey", "sidekey-proxy", "")
	other := kube.ServiceAccountToken(t, "sidekey", "sidekey-proxy", "")
	kube.Revoke(other)

	root := srv.Client(t).Logical()
	if _, err := root.Write("auth/kubernetes/config", map[string]any{
		"kubernetes_host": kube.URL, "disable_local_ca_jwt": true,
	}); err != nil {
		t.Fatalf("configure kubernetes auth: %v", err)
	}
	if _, err := root.Write("auth/kubernetes/role/sidecar", map[string]any{
		"bound_service_account_names":      []string{"sidekey-proxy"},
		"bound_service_account_namespaces": []string{"sidekey"},
		"token_policies":                   []string{srv.SidecarPolicy(t)},
		"token_no_default_policy":          true,
		"token_ttl":                        "1h",
	}); err != nil {
		t.Fatalf("write kubernetes role: %v", err)
	}
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "token"), filepath.Join(dir, "other")
	if err := os.WriteFile(good, []byte(saJWT+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}

	admin := stAdmin(t, srv)
	tn := stTenant(t)
	var vals stValues
	val := vals.new(t)
	mustCreate(t, admin, tn, secret.CreateInput{Alias: "a", Type: secret.TypeToken, Value: secret.Value{Token: val}})

	s := stStore(t, srv, AuthConfig{Method: MethodKubernetes, Role: "sidecar", JWTFile: good})
	mustReadToken(t, s, tn, "a", val)
	if kube.Reviews() == 0 {
		t.Fatal("Vault never asked the Kubernetes API to review the token")
	}
	if _, err := openStore(t.Context(), Config{Address: srv.Addr, Auth: AuthConfig{Method: MethodKubernetes, Role: "sidecar", JWTFile: bad}}); err == nil {
		t.Fatal("login with a token the Kubernetes API rejects succeeded")
	}
}

// TestRunLeavesNoGoroutine checks that Run and its lifetime watcher end with
// the context (no other test runs a store's Run concurrently: the tests that
// do are parallel, and parallel tests start after this one).
func TestRunLeavesNoGoroutine(t *testing.T) {
	srv := vaulttest.Shared(t)
	s := stStore(t, srv, stToken(srv.TokenTTL(t, 4*time.Second, srv.SidecarPolicy(t))))
	stop := goRun(t, s.Run)
	// Let the watcher renew at least once.
	deadline := time.Now().Add(10 * time.Second)
	for !hasGoroutine("LifetimeWatcher") {
		if time.Now().After(deadline) {
			t.Fatal("no lifetime watcher running")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // past the first renewal (at about 2/3 of the TTL)
	stop()
	assertNoGoroutineIn(t, "LifetimeWatcher", "(*Client).Run", "(*Client).watch", "(*Client).reloginLoop")
}

// assertNoGoroutineIn fails the test when a goroutine is still inside one of
// fns after Run returned.
func assertNoGoroutineIn(t *testing.T, fns ...string) {
	t.Helper()
	for _, fn := range fns {
		if hasGoroutine(fn) {
			t.Errorf("a goroutine in %s is left after Run returned", fn)
		}
	}
}

func hasGoroutine(fn string) bool {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Contains(string(buf[:n]), fn)
}
