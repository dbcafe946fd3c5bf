package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/testbin"
	"github.com/sidekey/sidekey/internal/vaulttest"
	"github.com/sidekey/sidekey/vaultstore"
)

func TestCAInitAndTokenProxy(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"ca", "init", "--out", dir}, &out, &errb); code != 0 {
		t.Fatalf("ca init: %d %s", code, errb.String())
	}
	st, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v", st, err)
	}
	if code := run(context.Background(), []string{"ca", "init", "--out", dir}, &out, &errb); code == 0 {
		t.Fatal("ca init overwrote an existing CA")
	}
	keyFile := testbin.WriteFile(t, dir, "tenant.keys", "0123456789abcdef0123456789abcdef\n")
	for format, want := range map[string]string{"userpass": "acme.billing:", "header": "Basic ", "credential": ""} {
		out.Reset()
		code := run(context.Background(), []string{"token", "proxy", "--key-file", keyFile, "--org", "acme", "--domain", "billing", "--format", format}, &out, &errb)
		if code != 0 || !strings.HasPrefix(out.String(), want) || strings.Count(out.String(), "\n") != 1 {
			t.Fatalf("token proxy --format %s: %d %q", format, code, out.String())
		}
	}
	if code := run(context.Background(), []string{"token", "proxy", "--key-file", keyFile, "--org", "Bad!", "--domain", "x"}, &out, &errb); code == 0 {
		t.Fatal("token proxy accepted an invalid org")
	}
}

func TestProxyBadStartExitsWithOneLine(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"missing files":      {"proxy", "--ca-cert", filepath.Join(dir, "nope.crt"), "--ca-key", filepath.Join(dir, "nope.key"), "--tenant-key-file", filepath.Join(dir, "nope")},
		"bad duration":       {"proxy", "--read-timeout", "soon"},
		"bad cidr":           {"proxy", "--allow-upstream-cidr", "10.0.0.0/99"},
		"nothing given":      {"proxy"},
		"negative limit":     {"proxy", "--max-body-bytes", "-1"},
		"bad upstream-http2": {"proxy", "--upstream-http2", "sometimes"},
		"zero h2 streams":    {"proxy", "--h2-max-concurrent-streams", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), args, &out, &errb)
			if code == 0 {
				t.Fatal("started")
			}
			if lines := strings.Count(strings.TrimSpace(errb.String()), "\n") + 1; lines != 1 || !strings.HasPrefix(errb.String(), "sidekey proxy: ") {
				t.Fatalf("want one line, got %d: %q", lines, errb.String())
			}
		})
	}
}

// TestProxyCommand runs "sidekey proxy" against a real dev Vault with the
// sidecar policy's token, sends a request with curl, and stops it the way
// SIGTERM does (the signal context ends).
func TestProxyCommand(t *testing.T) {
	srv := vaulttest.Start(t)
	ctx := context.Background()
	admin, err := vaultstore.NewWriter(ctx, vaultstore.Config{Address: srv.Addr, Auth: vaultstore.AuthConfig{Token: srv.AdminToken(t)}})
	if err != nil {
		t.Fatal(err)
	}
	tenant := secret.Tenant{Org: "acme", Domain: "billing"}
	const value = "cmd-test-token-0123456789"
	if _, err := admin.Create(ctx, tenant, secret.CreateInput{Alias: "weather_fx", Type: secret.TypeToken, Value: secret.Value{Token: value}, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	var got http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = w.Write([]byte("ok"))
	}))
	defer up.Close()

	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"ca", "init", "--out", dir}, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	keyFile := testbin.WriteFile(t, dir, "tenant.keys", "0123456789abcdef0123456789abcdef\n")
	tokenFile := testbin.WriteFile(t, dir, "vault-token", srv.SidecarToken(t))
	out.Reset()
	if code := run(ctx, []string{"token", "proxy", "--key-file", keyFile, "--org", "acme", "--domain", "billing"}, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	userPass := strings.TrimSpace(out.String())

	listen, metrics := testbin.FreeHostPort(t), testbin.FreeHostPort(t)
	runCtx, stop := context.WithCancel(ctx)
	exited := make(chan int, 1)
	var perr bytes.Buffer
	go func() {
		exited <- run(runCtx, []string{"proxy", "--listen", listen, "--metrics-listen", metrics,
			"--ca-cert", filepath.Join(dir, "ca.crt"), "--ca-key", filepath.Join(dir, "ca.key"),
			"--tenant-key-file", keyFile, "--allow-upstream-cidr", "127.0.0.0/8", "--allow-plain-http-injection",
			"--vault-addr", srv.Addr, "--vault-token-file", tokenFile, "--log-level", "warn", "--drain-timeout", "2s"}, &out, &perr)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + metrics + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("never ready: %v; stderr %s", err, perr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd := exec.Command("curl", "-sS", "--globoff", "--fail-with-body", "--proxy", "http://"+listen, "--proxy-user", userPass,
		"-H", "Authorization: Bearer {{secrets.weather_fx}}", up.URL+"/send")
	if b, err := cmd.CombinedOutput(); err != nil || string(b) != "ok" {
		t.Fatalf("curl: %v %s", err, b)
	}
	if got.Get("Authorization") != "Bearer "+value {
		t.Fatalf("upstream Authorization has %d bytes, want the injected value", len(got.Get("Authorization")))
	}
	stop()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, perr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not stop")
	}
	if _, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		t.Fatal("still listening after the drain")
	}
}
