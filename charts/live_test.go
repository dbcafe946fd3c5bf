package charts

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sidekey/sidekey/internal/testbin"
	"github.com/sidekey/sidekey/internal/testupstream"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// TestLive runs the real `sidekey admin` and `sidekey proxy` the way the
// chart's pods run them, against a real dev Vault whose Kubernetes auth
// (the default values), tokens and AppRoles grant the shipped policies
// (deploy/vault), and then does what a user does:
// calls each container's probes where the rendered pod points them,
// creates a secret through the admin API, and sends a request with curl
// from the example sender's rendered environment (HTTPS_PROXY, CA trust,
// tenant key) through the sidecar to a TLS upstream, which must receive the
// injected value.
//
// Only what a pod and a cluster provide is changed: every listener moves to
// a free loopback port, Vault's address becomes the dev server's, each
// mounted file becomes a temporary file with real content (a CA from
// `sidekey ca init`, a tenant key, a Vault token or secret id of the
// component's policy, a ServiceAccount token with the projected volume's
// audience), the proxy is allowed to reach the loopback upstream
// (--allow-upstream-cidr, --upstream-ca), which it refuses in a pod, and
// the Kubernetes API's TokenReview is a stand-in (no cluster runs here).
func TestLive(t *testing.T) {
	bin := sidekeyBinary(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is not installed: run make deps (%v)", err)
	}
	vault := vaulttest.Start(t)
	caDir := t.TempDir()
	if out, err := exec.Command(bin, "ca", "init", "--out", caDir).CombinedOutput(); err != nil { // #nosec G204 -- the binary under test
		t.Fatalf("sidekey ca init: %v\n%s", err, out)
	}
	kube := testbin.StartKubeAPI(t)
	configureKubernetesAuth(t, vault, kube.URL)
	senderOn := filepath.Join(t.TempDir(), "sender-on.yaml")
	if err := os.WriteFile(senderOn, []byte("exampleSender:\n  enabled: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	variants := []struct{ name, values string }{
		// The default values: Vault's Kubernetes auth, with the example
		// sender turned on.
		{"kubernetes", senderOn},
		{"token", filepath.Join(chartDir, "ci", "token-values.yaml")},
		{"approle", filepath.Join(chartDir, "ci", "approle-values.yaml")},
	}
	for _, v := range variants {
		name := v.name
		t.Run(name, func(t *testing.T) {
			m := decode(t, renderChart(t, chartDir, v.values))
			content := map[string]map[string]string{}
			for _, role := range []string{"admin", "sidecar"} {
				policy := vault.AdminPolicy(t)
				if role == "sidecar" {
					policy = vault.SidecarPolicy(t)
				}
				roleID, secretID := vault.AppRole(t, policy)
				content[role] = map[string]string{
					"token":     vault.Token(t, policy),
					"role-id":   roleID,
					"secret-id": secretID,
					"ca.crt":    readFile(t, filepath.Join(caDir, "ca.crt")),
					"ca.key":    readFile(t, filepath.Join(caDir, "ca.key")),
					"keys":      randomHex(t) + "\n",
					"hs256.key": randomHex(t) + "\n",
				}
			}
			if name == "kubernetes" {
				// The projected token file holds the pod's ServiceAccount
				// token, which the stand-in API server vouches for.
				for role, component := range map[string]string{"admin": "admin", "sidecar": "example-sender"} {
					pod := &m.deployment(t, component).Spec.Template.Spec
					content[role]["token"] = kube.ServiceAccountToken(t, namespace, pod.ServiceAccountName, projectedAudience(t, pod))
				}
			}
			adminPod := &m.deployment(t, "admin").Spec.Template.Spec
			senderPod := &m.deployment(t, "example-sender").Spec.Template.Spec

			admin := startContainer(t, bin, vault.Addr, m, adminPod, "admin", content["admin"], nil)
			admin.checkProbes(t)

			up := startUpstream(t)
			proxy := startContainer(t, bin, vault.Addr, m, senderPod, "sidekey-proxy", content["sidecar"], map[string]string{
				"allow-upstream-cidr": "127.0.0.0/8",
				"upstream-ca":         up.caFile,
			})
			proxy.checkProbes(t)

			// An org admin stores a secret for ORG/billing (an org per
			// variant: they share the Vault).
			org := "acme-" + name
			value := "wx-" + randomHex(t)
			jwt := testbin.Run(t, bin, "token", "admin", "--key-file", admin.files["jwt-hs256-key-file"], "--role", "org_admin", "--org", org)
			createSecret(t, "http://"+admin.s.flags["listen"], jwt, org, value)

			// The sender sends with its rendered environment.
			out := runSender(t, bin, curl, m, senderPod, proxy, content["sidecar"], org,
				up.URL()+"/notify?key={{secrets.weather_fx}}")
			got := up.lastKey()
			if got != value {
				t.Fatalf("the upstream got a key of %s, want the stored value of %s; curl said %q",
					testbin.Fingerprint(got), testbin.Fingerprint(value), out)
			}
		})
	}
}

// projectedAudience returns the audience of the pod's projected
// ServiceAccount token, failing when there is none.
func projectedAudience(t *testing.T, pod *corev1.PodSpec) string {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				return src.ServiceAccountToken.Audience
			}
		}
	}
	t.Fatal("the pod has no projected ServiceAccount token")
	return ""
}

// configureKubernetesAuth points the dev Vault's Kubernetes auth at the
// stand-in API server and writes the two roles of docs/deploy.md, bound to
// the ServiceAccounts of the default render (release "sidekey").
func configureKubernetesAuth(t *testing.T, vault *vaulttest.Server, kubeURL string) {
	t.Helper()
	c := vault.Client(t).Logical()
	if _, err := c.Write("auth/kubernetes/config", map[string]any{"kubernetes_host": kubeURL, "disable_local_ca_jwt": true}); err != nil {
		t.Fatalf("configure kubernetes auth: %v", err)
	}
	roles := []struct{ role, sa, policy string }{
		{"sidekey-admin", "sidekey", vault.AdminPolicy(t)},
		{"sidekey-sidecar", "sidekey-example-sender", vault.SidecarPolicy(t)},
	}
	for _, r := range roles {
		if _, err := c.Write("auth/kubernetes/role/"+r.role, map[string]any{
			"bound_service_account_names":      []string{r.sa},
			"bound_service_account_namespaces": []string{namespace},
			"audience":                         "vault",
			"token_policies":                   []string{r.policy},
			"token_no_default_policy":          true,
			"token_ttl":                        "1h",
		}); err != nil {
			t.Fatalf("write kubernetes role %s: %v", r.role, err)
		}
	}
}

// liveProc is one container of a rendered pod, running as a local process.
type liveProc struct {
	c     *corev1.Container
	s     settings          // the settings it runs with
	addrs map[int]string    // container port → local listen address
	files map[string]string // flag → local file written for it
	proc  *testbin.Proc
	logs  *testbin.Output
}

// startContainer starts container of spec with its rendered settings,
// remapped as TestLive describes; override sets flags after that.
func startContainer(t *testing.T, bin, vaultAddr string, m *manifests, spec *corev1.PodSpec, container string, content map[string]string, override map[string]string) *liveProc {
	t.Helper()
	c, _ := findContainer(spec, container)
	if c == nil {
		t.Fatalf("no container %s", container)
	}
	p := &liveProc{c: c, s: containerSettings(t, c, m.configMaps), addrs: map[int]string{}, files: map[string]string{}}
	dir := t.TempDir()
	ports := freeAddrs(t, 2)
	for name, value := range p.s.flags {
		switch {
		case name == "listen" || name == "metrics-listen":
			_, port := hostPort(t, "--"+name, value)
			addr := ports[len(p.addrs)]
			p.addrs[port] = addr
			p.s.flags[name] = addr
		case name == "vault-addr":
			p.s.flags[name] = vaultAddr
		case name == "vault-ca-cert" || name == "vault-auth-mount":
			delete(p.s.flags, name) // the dev Vault is plain HTTP, auth methods at their default mounts
		case p.s.origin[name] == "secret":
			key := value[strings.LastIndex(value, "/")+1:]
			v, ok := content[key]
			if !ok {
				t.Fatalf("%s: no test content for Secret key %q", container, key)
			}
			p.s.flags[name] = v
		}
		if _, isFile := fileFlags[name]; isFile {
			local := materialize(t, m, spec, c, value, content, filepath.Join(dir, name))
			p.s.flags[name], p.files[name] = local, local
		}
	}
	for name, value := range override {
		if _, ok := p.s.origin[name]; !ok {
			p.s.origin[name] = "arg"
		}
		p.s.flags[name] = value
	}

	// Settings reach the process the way the pod gives them: args as args,
	// the ConfigMap's and Secrets' values as SIDEKEY_* variables.
	args := []string{p.s.command}
	env := cleanEnv()
	for name, value := range p.s.flags {
		if p.s.origin[name] == "arg" {
			args = append(args, "--"+name+"="+value)
		} else {
			env = append(env, "SIDEKEY_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"="+value)
		}
	}
	cmd := exec.Command(bin, args...) // #nosec G204 -- the binary under test with the rendered settings
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	p.proc = testbin.DaemonCmd(t, container, cmd)
	p.logs = p.proc.Logs
	return p
}

// materialize writes the content behind podPath (a file that container c
// of spec reads from a mounted Secret or ConfigMap) to local.
func materialize(t *testing.T, m *manifests, spec *corev1.PodSpec, c *corev1.Container, podPath string, content map[string]string, local string) string {
	t.Helper()
	src, ok := resolveFile(spec, c, podPath)
	if !ok {
		t.Fatalf("%s: %s is not mounted", c.Name, podPath)
	}
	data, ok := content[src.key]
	if src.kind == "configMap" {
		cm := findConfigMap(m.configMaps, src.object)
		if cm == nil {
			t.Fatalf("%s: ConfigMap %s is not rendered", c.Name, src.object)
		}
		data, ok = cm.Data[src.key]
	}
	if !ok {
		t.Fatalf("%s: no test content for %s %s key %q", c.Name, src.kind, src.object, src.key)
	}
	if err := os.WriteFile(local, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return local
}

// checkProbes calls each probe of the container where the pod points it.
func (p *liveProc) checkProbes(t *testing.T) {
	t.Helper()
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
	}{{"startupProbe", p.c.StartupProbe}, {"livenessProbe", p.c.LivenessProbe}, {"readinessProbe", p.c.ReadinessProbe}} {
		port, ok := containerPort(p.c, pr.probe.HTTPGet.Port.String())
		addr := p.addrs[port]
		if !ok || addr == "" {
			t.Fatalf("%s: %s port %s is no listener of the process", p.c.Name, pr.name, pr.probe.HTTPGet.Port.String())
		}
		if err := p.awaitOK("http://" + addr + pr.probe.HTTPGet.Path); err != nil {
			t.Fatalf("%s %s: GET %s: %v\nprocess output %s", p.c.Name, pr.name, pr.probe.HTTPGet.Path, err, p.logs)
		}
	}
}

// awaitOK polls url until it answers 200 (testbin.PollOK).
func (p *liveProc) awaitOK(url string) error { return testbin.PollOK(url, p.proc) }

// createSecret stores token secret weather_fx for ORG/billing through the
// admin API.
func createSecret(t *testing.T, base, jwt, org, value string) {
	t.Helper()
	body := fmt.Sprintf(`{"alias":"weather_fx","type":"token","value":{"token":%q}}`, value)
	req, err := http.NewRequest(http.MethodPost, base+"/v1/orgs/"+org+"/domains/billing/secrets", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(jwt))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin API: create weather_fx: status %d", resp.StatusCode)
	}
}

// runSender runs curl with the example sender container's rendered
// environment; only the proxy's address follows the sidecar's move to a
// free port, and the mounted files become local ones.
func runSender(t *testing.T, bin, curl string, m *manifests, spec *corev1.PodSpec, proxy *liveProc, content map[string]string, org, url string) string {
	t.Helper()
	sender, _ := findContainer(spec, "sender")
	if sender == nil {
		t.Fatal("no sender container")
	}
	rendered, _ := findContainer(spec, "sidekey-proxy")
	orig := containerSettings(t, rendered, m.configMaps).flags["listen"]
	dir := t.TempDir()
	env := []string{}
	for _, kv := range cleanEnv() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR":
			continue // the sender's own environment decides
		}
		env = append(env, kv)
	}
	var keyFile string
	for _, e := range sender.Env {
		v := e.Value
		switch e.Name {
		case "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy":
			if v != "http://"+orig {
				t.Fatalf("sender %s=%q is not the sidecar's listener %q", e.Name, v, orig)
			}
			v = "http://" + proxy.s.flags["listen"]
		case "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "SIDEKEY_TENANT_KEY_FILE":
			v = materialize(t, m, spec, sender, v, content, filepath.Join(dir, e.Name))
			if e.Name == "SIDEKEY_TENANT_KEY_FILE" {
				keyFile = v
			}
		}
		env = append(env, e.Name+"="+v)
	}
	if keyFile == "" {
		t.Fatal("the sender has no SIDEKEY_TENANT_KEY_FILE to sign its proxy credentials with")
	}
	userpass := testbin.Run(t, bin, "token", "proxy", "--key-file", keyFile, "--org", org, "--domain", "billing")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, "-sS", "-g", "--fail-with-body", "--max-time", "30", "--proxy-user", userpass, url) // #nosec G204 -- curl with test-made arguments
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl through the sidecar: %v: %s\nproxy output %s", err, out.String(), proxy.logs)
	}
	return out.String()
}

// upstream is a TLS server on 127.0.0.2, an address the sender's NO_PROXY
// does not exempt, that records the requests it receives.
type upstream struct {
	*testupstream.Server
	caFile string
}

// lastKey is the `key` query parameter of the latest request.
func (u *upstream) lastKey() string {
	last, ok := u.Last()
	if !ok {
		return ""
	}
	q, err := url.Parse(last.URI)
	if err != nil {
		return ""
	}
	return q.Query().Get("key")
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	srv, err := testupstream.New("127.0.0.2:0", testupstream.Options{Hosts: []string{"127.0.0.2"},
		Handle: func(w http.ResponseWriter, _ *http.Request, _ []byte) { _, _ = w.Write([]byte("sent\n")) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &upstream{Server: srv, caFile: testbin.WriteFile(t, t.TempDir(), "upstream.crt", string(srv.CAPEM()))}
}

// freeAddrs returns n distinct loopback host:port addresses that were free
// a moment ago (all held open together, so none repeats).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln := testbin.Listen(t)
		defer func() { _ = ln.Close() }()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
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
