package charts

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// documentedSecretKeys are the keys of the Secrets that docs/deploy.md
// tells users to create, for checks of what a container can read.
var documentedSecretKeys = map[string][]string{
	"sidekey-ca":         {"ca.crt", "ca.key"},
	"sidekey-tenant-key": {"keys"},
}

// TestLint runs `helm lint --strict` on the default values and on every
// documented variant.
func TestLint(t *testing.T) {
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir}, valuesArgs(v.values)...)
			if _, err := helm(t, args...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRender renders the default values and every variant, decodes each
// manifest strictly into its API type, and checks the wiring.
func TestRender(t *testing.T) {
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			m := decode(t, renderChart(t, chartDir, v.values))
			for _, gvk := range m.kinds {
				if strings.HasSuffix(gvk, "/Secret") {
					t.Errorf("the chart renders a Secret: secret values must come from existing Secrets")
				}
			}
			checkAdmin(t, m)
			checkNoSecretInConfigMaps(t, m)
			if d := m.deployment(t, "example-sender"); d != nil {
				checkSender(t, m, &d.Spec.Template.Spec)
			} else if v.name != "default" && v.name != "ingress" && v.name != "oidc" {
				t.Errorf("variant %s renders no example sender", v.name)
			}
			if v.name == "ingress" && len(m.ingresses) != 1 {
				t.Errorf("variant ingress renders %d Ingresses, want 1", len(m.ingresses))
			}
		})
	}
}

// checkAdmin checks the admin Deployment and what points at it.
func checkAdmin(t *testing.T, m *manifests) {
	d := m.deployment(t, "admin")
	if d == nil {
		t.Fatal("no admin Deployment")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("admin replicas %v, want at least 2 by default", d.Spec.Replicas)
	}
	spec := &d.Spec.Template.Spec
	c, _ := findContainer(spec, "admin")
	if c == nil {
		t.Fatal("admin Deployment has no admin container")
	}
	s := checkContainer(t, m, spec, c, "admin", "listen")
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("admin container has no memory request and limit")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("admin pod automounts the ServiceAccount token; it needs only its projected Vault token")
	}
	checkVaultAuth(t, s, "admin")

	// The ServiceAccount exists and is the pod's: Vault's Kubernetes auth
	// binds the admin role to it.
	if !slices.ContainsFunc(m.accounts, func(a *corev1.ServiceAccount) bool { return a.Name == spec.ServiceAccountName }) {
		t.Errorf("admin pod's ServiceAccount %q is not rendered", spec.ServiceAccountName)
	}

	podLabels := labels.Set(d.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Fatalf("admin Deployment selector does not match its pods (%v)", err)
	}

	for _, tsc := range spec.TopologySpreadConstraints {
		sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
		if err != nil || !sel.Matches(podLabels) {
			t.Errorf("topology spread over %s does not select the admin pods", tsc.TopologyKey)
		}
	}
	if *d.Spec.Replicas > 1 && len(spec.TopologySpreadConstraints) == 0 && spec.Affinity == nil {
		t.Error("several admin replicas and nothing spreads them over nodes")
	}

	// Service → container ports, and its http port → the API listener.
	if len(m.services) != 1 {
		t.Fatalf("%d Services, want 1", len(m.services))
	}
	svc := m.services[0]
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Error("Service selector does not match the admin pods")
	}
	svcPorts := map[string]int{}
	for _, p := range svc.Spec.Ports {
		n, ok := containerPort(c, p.TargetPort.String())
		if !ok {
			t.Errorf("Service port %s targets %q, not an admin container port", p.Name, p.TargetPort.String())
		}
		svcPorts[p.Name] = n
	}
	_, apiPort := hostPort(t, "--listen", s.flags["listen"])
	_, metricsPort := hostPort(t, "--metrics-listen", s.flags["metrics-listen"])
	if svcPorts["http"] != apiPort {
		t.Errorf("Service http reaches port %d, the API listens on %d", svcPorts["http"], apiPort)
	}
	if svcPorts["metrics"] != metricsPort {
		t.Errorf("Service metrics reaches port %d, metrics listen on %d", svcPorts["metrics"], metricsPort)
	}

	for _, ing := range m.ingresses {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				if b == nil || b.Name != svc.Name || b.Port.Name != "http" {
					t.Errorf("Ingress path %s does not route to Service %s port http", p.Path, svc.Name)
				}
			}
		}
	}
	for _, pdb := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(podLabels) {
			t.Error("PodDisruptionBudget does not select the admin pods")
		}
		if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
			t.Error("PodDisruptionBudget sets no budget")
		}
	}
	if len(m.pdbs) != 1 {
		t.Errorf("%d PodDisruptionBudgets, want 1", len(m.pdbs))
	}
	checkNetworkPolicy(t, m, c, podLabels, s.flags["vault-addr"])
	for _, sm := range m.monitors {
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(svc.Labels)) {
			t.Error("ServiceMonitor does not select the admin Service")
		}
		for _, e := range sm.Spec.Endpoints {
			if _, ok := svcPorts[e.Port]; !ok || e.Port != "metrics" || e.Path != "/metrics" {
				t.Errorf("ServiceMonitor scrapes port %q path %q, want the Service's metrics port and /metrics", e.Port, e.Path)
			}
		}
	}
}

// checkNetworkPolicy checks the admin's policy admits the API and metrics
// ports and lets it reach DNS and Vault's port.
func checkNetworkPolicy(t *testing.T, m *manifests, c *corev1.Container, podLabels labels.Set, vaultAddr string) {
	if len(m.policies) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(m.policies))
	}
	np := m.policies[0]
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || !sel.Matches(podLabels) {
		t.Fatal("NetworkPolicy does not select the admin pods")
	}
	in := map[int]bool{}
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			n, ok := containerPort(c, p.Port.String())
			if !ok {
				t.Errorf("NetworkPolicy admits port %s, not an admin container port", p.Port.String())
			}
			in[n] = true
		}
	}
	for _, p := range c.Ports {
		if !in[int(p.ContainerPort)] {
			t.Errorf("NetworkPolicy does not admit the admin's %s port", p.Name)
		}
	}
	u, err := url.Parse(vaultAddr)
	if err != nil {
		t.Fatalf("vault address %q: %v", vaultAddr, err)
	}
	vaultPort := u.Port()
	if vaultPort == "" {
		vaultPort = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	out := map[string]bool{}
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			out[fmt.Sprintf("%s/%s", p.Port.String(), *p.Protocol)] = true
		}
	}
	for _, want := range []string{"53/UDP", "53/TCP", vaultPort + "/TCP"} {
		if !out[want] {
			t.Errorf("NetworkPolicy egress lacks %s (Vault at %s)", want, vaultAddr)
		}
	}
}

// checkVaultAuth checks that the Vault auth settings of one component are
// complete for its method, and that no credential is a literal setting.
func checkVaultAuth(t *testing.T, s settings, role string) {
	for _, n := range []string{"vault-addr", "vault-mount", "vault-prefix", "vault-auth"} {
		if s.flags[n] == "" {
			t.Errorf("%s: --%s not set", role, n)
		}
	}
	switch method := s.flags["vault-auth"]; method {
	case "kubernetes":
		if s.flags["vault-k8s-role"] == "" || s.flags["vault-k8s-jwt-file"] == "" {
			t.Errorf("%s: kubernetes auth without role or token file", role)
		}
	case "approle":
		if s.origin["vault-role-id"] != "secret" || s.flags["vault-secret-id-file"] == "" {
			t.Errorf("%s: approle auth wants the role id from a Secret and a secret id file (role id from %q)", role, s.origin["vault-role-id"])
		}
	case "token":
		if s.flags["vault-token-file"] == "" {
			t.Errorf("%s: token auth without a token file", role)
		}
	default:
		t.Errorf("%s: vault-auth %q", role, method)
	}
}

// checkSender checks the example sender: the sidecar container and the
// sender's proxy and CA-trust environment.
func checkSender(t *testing.T, m *manifests, spec *corev1.PodSpec) {
	proxy, init := findContainer(spec, "sidekey-proxy")
	if proxy == nil {
		t.Fatal("example sender has no sidekey-proxy container")
	}
	native := proxy.RestartPolicy != nil && *proxy.RestartPolicy == corev1.ContainerRestartPolicyAlways
	if init != native {
		t.Errorf("sidekey-proxy: in initContainers=%v but restartPolicy Always=%v; a native sidecar needs both", init, native)
	}
	s := checkContainer(t, m, spec, proxy, "proxy", "metrics-listen")
	checkVaultAuth(t, s, "sidecar")
	for _, e := range proxy.Env {
		if e.ValueFrom == nil && regexp.MustCompile(`(?i)token|secret|role_id|key`).MatchString(e.Name) && !strings.HasSuffix(e.Name, "_FILE") {
			t.Errorf("sidecar env %s is a literal; credentials come from Secrets", e.Name)
		}
	}

	// The proxy listens on the pod's loopback only; the sender's proxy
	// variables point at exactly that listener.
	host, port := hostPort(t, "--listen", s.flags["listen"])
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("sidecar --listen %q is not loopback: the proxy would be reachable from other pods", s.flags["listen"])
	}
	sender, _ := findContainer(spec, "sender")
	if sender == nil {
		t.Fatal("example sender has no sender container")
	}
	checkHardened(t, spec, sender)
	env := map[string]string{}
	for _, e := range sender.Env {
		env[e.Name] = e.Value
	}
	want := "http://" + net.JoinHostPort(host, strconv.Itoa(port))
	for _, name := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		if env[name] != want {
			t.Errorf("sender %s=%q, want the sidecar at %q", name, env[name], want)
		}
	}
	for _, name := range []string{"NO_PROXY", "no_proxy"} {
		if !strings.Contains(env[name], "localhost") {
			t.Errorf("sender %s=%q does not exempt localhost", name, env[name])
		}
	}
	for _, name := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"} {
		src, ok := resolveFile(spec, sender, env[name])
		caSecret := caSecretOf(t, spec, proxy, s)
		if !ok || src.kind != "secret" || src.object != caSecret || src.key != "ca.crt" {
			t.Errorf("sender %s=%q is not the ca.crt of the proxy's CA Secret %q (got %+v)", name, env[name], caSecret, src)
		}
	}
	if f, ok := env["SIDEKEY_TENANT_KEY_FILE"]; ok {
		src, ok := resolveFile(spec, sender, f)
		tk, _ := resolveFile(spec, proxy, s.flags["tenant-key-file"])
		if !ok || src != tk {
			t.Errorf("sender SIDEKEY_TENANT_KEY_FILE=%q is not the proxy's tenant key (%+v vs %+v)", f, src, tk)
		}
	}
	// The CA private key is the proxy's alone.
	caSecret := caSecretOf(t, spec, proxy, s)
	for _, k := range readableSecretKeys(spec, sender, map[string][]string{caSecret: documentedSecretKeys["sidekey-ca"]}) {
		if k == caSecret+"/ca.key" {
			t.Errorf("the sender container can read the CA private key (%s)", k)
		}
	}
	checkFiles(t, spec, sender, settings{flags: map[string]string{}})
}

// caSecretOf returns the Secret that the proxy's --ca-key comes from.
func caSecretOf(t *testing.T, spec *corev1.PodSpec, proxy *corev1.Container, s settings) string {
	t.Helper()
	src, ok := resolveFile(spec, proxy, s.flags["ca-key"])
	if !ok || src.kind != "secret" {
		t.Fatalf("sidecar --ca-key=%q is not from a Secret", s.flags["ca-key"])
	}
	return src.object
}

// checkNoSecretInConfigMaps asserts ConfigMaps carry settings and public
// keys only: every key is a SIDEKEY_ setting or the JWKS, no value holds a
// PEM block or a JWT, and the JWKS has no private or symmetric member.
func checkNoSecretInConfigMaps(t *testing.T, m *manifests) {
	pem := regexp.MustCompile(`-----BEGIN`)
	jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.`)
	for _, cm := range m.configMaps {
		if len(cm.BinaryData) > 0 {
			t.Errorf("ConfigMap %s has binaryData", cm.Name)
		}
		for k, v := range cm.Data {
			if pem.MatchString(v) || jwt.MatchString(v) {
				t.Errorf("ConfigMap %s key %s holds key material (%d bytes)", cm.Name, k, len(v))
			}
			if k == "jwks.json" {
				checkPublicJWKS(t, cm.Name, v)
				continue
			}
			name, ok := flagName(k)
			if !ok {
				t.Errorf("ConfigMap %s key %s is neither a SIDEKEY_ setting nor jwks.json", cm.Name, k)
				continue
			}
			if _, isFile := fileFlags[name]; !isFile && regexp.MustCompile(`token|secret|password|role-id|(^|-)key$`).MatchString(name) {
				t.Errorf("ConfigMap %s carries credential setting %s", cm.Name, k)
			}
		}
	}
}

func checkPublicJWKS(t *testing.T, cm, v string) {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(v), &set); err != nil || len(set.Keys) == 0 {
		t.Errorf("ConfigMap %s jwks.json is not a JWKS with keys (%v)", cm, err)
		return
	}
	for i, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[private]; ok {
				t.Errorf("ConfigMap %s jwks.json key %d has private member %q", cm, i, private)
			}
		}
	}
}

// TestSchemaRejects feeds bad values to `helm lint --strict` and `helm
// template`: both must fail and name the offending key.
func TestSchemaRejects(t *testing.T) {
	cases := []struct {
		name   string
		values string
		want   string // in the error output
	}{
		{"wrong type", "admin:\n  replicaCount: two\n", "/admin/replicaCount"},
		{"wrong type of a port", "sidecar:\n  port: \"8080\"\n", "/sidecar/port"},
		{"unknown top-level key", "replicaCount: 3\n", "'replicaCount' not allowed"},
		{"unknown nested key", "vault:\n  adress: https://vault:8200\n", "'adress' not allowed"},
		{"unknown auth method", "vault:\n  auth:\n    method: ldap\n", "/vault/auth/method"},
		{"bad duration", "vault:\n  timeout: five seconds\n", "/vault/timeout"},
		{"private key in the JWKS", "admin:\n  jwt:\n    jwks: '{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"a\",\"y\":\"b\",\"d\":\"c\"}]}'\n", "/admin/jwt/jwks"},
		{"no JWT key at all", "admin:\n  jwt:\n    hs256Secret:\n      name: \"\"\n      key: k\n", "/admin/jwt/hs256Secret/name"},
		{"ingress without hosts", "admin:\n  ingress:\n    enabled: true\n    hosts: []\n", "/admin/ingress/hosts"},
		{"GODEBUG not key=value", "sidecar:\n  godebug: schedtrace\n", "/sidecar/godebug"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "bad-values.yaml")
			if err := os.WriteFile(f, []byte(tc.values), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"lint", "--strict", chartDir, "-f", f},
				{"template", releaseName, chartDir, "-f", f},
			} {
				_, err := helm(t, args...)
				if err == nil {
					t.Errorf("helm %s accepted the bad values", args[0])
					continue
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("helm %s failed without naming %q:\n%v", args[0], tc.want, err)
				}
			}
		})
	}
}

// TestSenderChart is how a sender uses the sidecar: its own chart depends
// on sidekey (admin off) and includes the named templates with
// .Subcharts.sidekey. Its values override the subchart's.
func TestSenderChart(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "notifier")
	copyDir(t, chartDir, filepath.Join(parent, "charts", "sidekey"))
	writeFile(t, filepath.Join(parent, "Chart.yaml"), `apiVersion: v2
name: notifier
description: A notification sender whose calls go through Sidekey.
version: 1.0.0
appVersion: "1.0.0"
icon: https://example.com/notifier.png
dependencies:
  - name: sidekey
    version: 0.1.0
`)
	writeFile(t, filepath.Join(parent, "values.yaml"), `sidekey:
  admin:
    enabled: false
  sidecar:
    port: 15001
    metricsPort: 15090
    caSecret: notifier-sidekey-ca
`)
	writeFile(t, filepath.Join(parent, "templates", "deployment.yaml"), `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-notifier
  labels:
    app.kubernetes.io/component: notifier
spec:
  selector:
    matchLabels:
      app: notifier
  template:
    metadata:
      labels:
        app: notifier
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      initContainers:
        {{- include "sidekey.sidecar" .Subcharts.sidekey | nindent 8 }}
      containers:
        - name: sender
          image: example.com/notifier:1.0.0
          env:
            - name: QUEUE
              value: notifications
            {{- include "sidekey.sidecar.env" .Subcharts.sidekey | nindent 12 }}
          volumeMounts:
            {{- include "sidekey.sidecar.volumeMounts" .Subcharts.sidekey | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
      volumes:
        {{- include "sidekey.sidecar.volumes" .Subcharts.sidekey | nindent 8 }}
`)
	if _, err := helm(t, "lint", "--strict", parent); err != nil {
		t.Fatal(err)
	}
	m := decode(t, renderChart(t, parent))
	if d := m.deployment(t, "admin"); d != nil {
		t.Error("admin.enabled=false still renders the admin Deployment")
	}
	if len(m.services)+len(m.configMaps)+len(m.accounts)+len(m.policies)+len(m.pdbs) != 0 {
		t.Errorf("admin.enabled=false still renders admin objects: %v", m.kinds)
	}
	d := m.deployment(t, "notifier")
	if d == nil {
		t.Fatal("the sender chart renders no notifier Deployment")
	}
	spec := &d.Spec.Template.Spec
	checkSender(t, m, spec)
	proxy, _ := findContainer(spec, "sidekey-proxy")
	s := containerSettings(t, proxy, nil)
	if s.flags["listen"] != "127.0.0.1:15001" || s.flags["metrics-listen"] != "0.0.0.0:15090" {
		t.Errorf("the parent's sidekey.sidecar ports did not reach the sidecar: %q %q", s.flags["listen"], s.flags["metrics-listen"])
	}
	if got := caSecretOf(t, spec, proxy, s); got != "notifier-sidekey-ca" {
		t.Errorf("CA Secret %q, want the parent's notifier-sidekey-ca", got)
	}
	if want := "ghcr.io/sidekey/sidekey:0.1.0"; proxy.Image != want {
		t.Errorf("sidecar image %q, want %q (sidekey's appVersion, not the parent's)", proxy.Image, want)
	}
	sender, _ := findContainer(spec, "sender")
	if sender.Env[0].Name != "QUEUE" {
		t.Error("the sender's own env was not kept")
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p) // #nosec G304 -- walking the chart in the repository
		if err != nil {
			return err
		}
		writeFile(t, filepath.Join(to, rel), string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkContainer checks that container c of spec runs `sidekey command`
// hardened, with its probes on the port of --probeFlag and its files
// mounted, and returns its settings.
func checkContainer(t *testing.T, m *manifests, spec *corev1.PodSpec, c *corev1.Container, command, probeFlag string) settings {
	t.Helper()
	s := containerSettings(t, c, m.configMaps)
	if s.command != command {
		t.Errorf("%s container runs %q, want %s", c.Name, s.command, command)
	}
	checkHardened(t, spec, c)
	checkProbes(t, c, "--"+probeFlag, s.flags[probeFlag])
	checkFiles(t, spec, c, s)
	return s
}

// TestAuthModes: the admin API is given exactly one way to verify tokens.
func TestAuthModes(t *testing.T) {
	cases := []struct {
		name string
		set  []string
		want string
	}{
		{"issuer beside the default HS256 key", []string{"admin.oidc.issuer=https://id.example.com", "admin.oidc.clientId=c"}, "set only one of"},
		{"none", []string{"admin.jwt.hs256Secret.name="}, "/admin/oidc/issuer"},
		{"issuer without client or audience", []string{"admin.jwt.hs256Secret.name=", "admin.oidc.issuer=https://id.example.com"}, "set clientId"},
		{"http issuer off loopback", []string{"admin.jwt.hs256Secret.name=", "admin.oidc.issuer=http://id.example.com", "admin.oidc.clientId=c"}, "issuer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"template", releaseName, chartDir, "--namespace", namespace}
			for _, s := range c.set {
				args = append(args, "--set", s)
			}
			out, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template accepted %v", c.set)
			}
			if !strings.Contains(err.Error()+string(out), c.want) {
				t.Fatalf("error %v %s does not name %q", err, out, c.want)
			}
		})
	}
}
