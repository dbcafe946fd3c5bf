package charts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sidekey/sidekey/internal/vaulttest"
)

// TestLiveProbes runs the real `sidekey admin` and `sidekey proxy` the way
// the chart's pods run them, against a real dev Vault with tokens and
// AppRoles of the shipped policies, and calls each container's probes
// where the rendered pod points them. It checks what the static render
// cannot: that the ConfigMap's SIDEKEY_* variables and the sidecar's args
// configure a process that starts, and that its health listener serves
// /healthz and /readyz.
//
// Only what a pod and a cluster provide is changed: every listener moves to
// a free loopback port, Vault's address becomes the dev server's, and each
// mounted file becomes a temporary file with real content (a CA from
// `sidekey ca init`, a tenant key, a Vault token or secret id of the
// component's policy).
func TestLiveProbes(t *testing.T) {
	bin := sidekeyBinary(t)
	vault := vaulttest.Start(t)
	caDir := t.TempDir()
	if out, err := exec.Command(bin, "ca", "init", "--out", caDir).CombinedOutput(); err != nil { // #nosec G204 -- the binary under test
		t.Fatalf("sidekey ca init: %v\n%s", err, out)
	}
	for _, name := range []string{"token", "approle"} {
		t.Run(name, func(t *testing.T) {
			m := decode(t, renderChart(t, chartDir, filepath.Join(chartDir, "ci", name+"-values.yaml")))
			creds := map[string]map[string]string{}
			for _, role := range []string{"admin", "sidecar"} {
				policy := vault.AdminPolicy(t)
				if role == "sidecar" {
					policy = vault.SidecarPolicy(t)
				}
				roleID, secretID := vault.AppRole(t, policy)
				creds[role] = map[string]string{
					"token":     vault.Token(t, policy),
					"role-id":   roleID,
					"secret-id": secretID,
					"ca.crt":    readFile(t, filepath.Join(caDir, "ca.crt")),
					"ca.key":    readFile(t, filepath.Join(caDir, "ca.key")),
					"keys":      randomHex(t) + "\n",
					"hs256.key": randomHex(t) + "\n",
				}
			}
			admin := m.deployment(t, "admin")
			runPod(t, bin, vault.Addr, m, &admin.Spec.Template.Spec, "admin", creds["admin"])
			sender := m.deployment(t, "example-sender")
			runPod(t, bin, vault.Addr, m, &sender.Spec.Template.Spec, "sidekey-proxy", creds["sidecar"])
		})
	}
}

// runPod starts one container of a rendered pod as a local process and
// checks its probes.
func runPod(t *testing.T, bin, vaultAddr string, m *manifests, spec *corev1.PodSpec, container string, creds map[string]string) {
	c, _ := findContainer(spec, container)
	if c == nil {
		t.Fatalf("no container %s", container)
	}
	s := containerSettings(t, c, m.configMaps)
	files := t.TempDir()
	listeners := map[int]string{} // container port → local address
	for name, value := range s.flags {
		switch {
		case name == "listen" || name == "metrics-listen":
			_, port := hostPort(t, "--"+name, value)
			addr := freeAddr(t)
			listeners[port] = addr
			s.flags[name] = addr
		case name == "vault-addr":
			s.flags[name] = vaultAddr
		case name == "vault-ca-cert" || name == "vault-auth-mount":
			delete(s.flags, name) // the dev Vault is plain HTTP, auth methods at their default mounts
		case s.origin[name] == "secret":
			key := value[strings.LastIndex(value, "/")+1:]
			v, ok := creds[key]
			if !ok {
				t.Fatalf("%s: no test content for Secret key %q (from %s)", container, key, value)
			}
			s.flags[name] = v
		}
		if _, isFile := fileFlags[name]; isFile {
			src, ok := resolveFile(spec, c, value)
			if !ok {
				t.Fatalf("%s: --%s=%s is not mounted", container, name, value)
			}
			content, ok := creds[src.key]
			if src.kind == "configMap" {
				cm := findConfigMap(m.configMaps, src.object)
				content, ok = cm.Data[src.key], cm != nil
			}
			if !ok {
				t.Fatalf("%s: no test content for %s %s key %q", container, src.kind, src.object, src.key)
			}
			local := filepath.Join(files, name)
			if err := os.WriteFile(local, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s.flags[name] = local
		}
	}

	// Settings reach the process the way the pod gives them: args as args,
	// the ConfigMap's and Secrets' values as SIDEKEY_* variables.
	args := []string{s.command}
	env := cleanEnv()
	for name, value := range s.flags {
		if s.origin[name] == "arg" {
			args = append(args, "--"+name+"="+value)
		} else {
			env = append(env, "SIDEKEY_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"="+value)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...) // #nosec G204 -- the binary under test with the rendered settings
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var logs capped
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed when the process has exited
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	for _, p := range []struct {
		name  string
		probe *corev1.Probe
	}{{"startupProbe", c.StartupProbe}, {"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}} {
		port, ok := containerPort(c, p.probe.HTTPGet.Port.String())
		addr := listeners[port]
		if !ok || addr == "" {
			t.Fatalf("%s: %s port %s is no listener of the process", container, p.name, p.probe.HTTPGet.Port.String())
		}
		url := "http://" + addr + p.probe.HTTPGet.Path
		if err := awaitOK(ctx, url, exited, &waitErr); err != nil {
			t.Fatalf("%s %s: GET %s: %v\nprocess output %s", container, p.name, p.probe.HTTPGet.Path, err, logs.String())
		}
	}
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// awaitOK polls url until it answers 200, the process exits, or ctx ends.
// It is a bounded wait for start-up, not a timing assertion; a 4xx
// answer ends it at once.
func awaitOK(ctx context.Context, url string, exited <-chan struct{}, waitErr *error) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("status %d", resp.StatusCode)
			if resp.StatusCode >= 400 && resp.StatusCode < 500 {
				return last // not a start-up state: the path is wrong
			}
		} else {
			last = err
		}
		select {
		case <-exited:
			return fmt.Errorf("the process exited (%w); last answer: %w", *waitErr, last)
		case <-ctx.Done():
			return fmt.Errorf("%w; last answer: %w", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cleanEnv is the environment without SIDEKEY_* and VAULT_* variables,
// which would otherwise fill settings the pod does not set.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SIDEKEY_") && !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name) // #nosec G304 -- a file this test wrote
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// capped keeps the first 64 KiB of a process's output, for failure
// messages (the processes log no secret value; SPEC §4, §5).
type capped struct {
	mu sync.Mutex
	b  []byte
	n  int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += len(p)
	if room := 64<<10 - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("(%d bytes)\n%s", c.n, c.b)
}
