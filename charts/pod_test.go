package charts

import (
	"net"
	"path"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// settings is what one container is configured with: flag name → value,
// gathered from its `--name=value` args, its SIDEKEY_* env (literal, from a
// ConfigMap of the render, or "secretKeyRef:NAME/KEY").
type settings struct {
	command string            // the subcommand: args[0]
	flags   map[string]string // flag name → value
	origin  map[string]string // flag name → "arg" | "env" | "configmap" | "secret"
}

// flagName maps SIDEKEY_TENANT_KEY_FILE to tenant-key-file.
func flagName(env string) (string, bool) {
	rest, ok := strings.CutPrefix(env, "SIDEKEY_")
	if !ok {
		return "", false
	}
	return strings.ToLower(strings.ReplaceAll(rest, "_", "-")), true
}

// containerSettings gathers the settings of c; configMaps are the render's.
func containerSettings(t *testing.T, c *corev1.Container, configMaps []*corev1.ConfigMap) settings {
	t.Helper()
	s := settings{flags: map[string]string{}, origin: map[string]string{}}
	set := func(name, value, origin string) {
		if prev, dup := s.origin[name]; dup {
			t.Errorf("container %s: setting %q given twice (%s and %s)", c.Name, name, prev, origin)
		}
		s.flags[name], s.origin[name] = value, origin
	}
	if len(c.Args) == 0 {
		t.Fatalf("container %s has no args (want the subcommand first)", c.Name)
	}
	s.command = c.Args[0]
	for _, a := range c.Args[1:] {
		kv, ok := strings.CutPrefix(a, "--")
		name, value, hasEq := strings.Cut(kv, "=")
		if !ok || !hasEq || name == "" {
			t.Errorf("container %s: arg %q is not --name=value", c.Name, a)
			continue
		}
		set(name, value, "arg")
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Errorf("container %s: envFrom other than a ConfigMap", c.Name)
			continue
		}
		cm := findConfigMap(configMaps, from.ConfigMapRef.Name)
		if cm == nil {
			t.Fatalf("container %s: envFrom ConfigMap %q is not in the render", c.Name, from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			if n, ok := flagName(k); ok {
				set(n, v, "configmap")
			}
		}
	}
	for _, e := range c.Env {
		n, ok := flagName(e.Name)
		if !ok {
			continue
		}
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			set(n, "secretKeyRef:"+e.ValueFrom.SecretKeyRef.Name+"/"+e.ValueFrom.SecretKeyRef.Key, "secret")
		case e.ValueFrom == nil:
			set(n, e.Value, "env")
		default:
			t.Errorf("container %s: env %s from neither a literal nor a Secret", c.Name, e.Name)
		}
	}
	return s
}

func findConfigMap(cms []*corev1.ConfigMap, name string) *corev1.ConfigMap {
	for _, cm := range cms {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

// findContainer looks in containers, then in initContainers.
func findContainer(spec *corev1.PodSpec, name string) (c *corev1.Container, init bool) {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i], false
		}
	}
	for i := range spec.InitContainers {
		if spec.InitContainers[i].Name == name {
			return &spec.InitContainers[i], true
		}
	}
	return nil, false
}

// hostPort splits a listen address, failing the test on a bad one.
func hostPort(t *testing.T, what, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", what, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		t.Fatalf("%s %q: bad port", what, addr)
	}
	return h, n
}

// containerPort resolves a probe's or Service's port (name or number)
// against c's declared ports.
func containerPort(c *corev1.Container, nameOrNumber string) (int, bool) {
	for _, p := range c.Ports {
		if p.Name == nameOrNumber || strconv.Itoa(int(p.ContainerPort)) == nameOrNumber {
			return int(p.ContainerPort), true
		}
	}
	return 0, false
}

// fileSource says where a file a container reads comes from: the volume
// kind and the Secret/ConfigMap key or projected path behind it.
type fileSource struct {
	kind   string // "secret", "configMap", "serviceAccountToken"
	object string // Secret or ConfigMap name
	key    string // key in it, or the projected path
}

// resolveFile finds which volume item of spec is at file in container c.
func resolveFile(spec *corev1.PodSpec, c *corev1.Container, file string) (fileSource, bool) {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path.Clean(file), path.Clean(m.MountPath)+"/")
		if !ok {
			continue
		}
		if m.SubPath != "" {
			continue
		}
		v := findVolume(spec, m.Name)
		if v == nil {
			return fileSource{}, false
		}
		switch {
		case v.Secret != nil:
			return itemSource("secret", v.Secret.SecretName, v.Secret.Items, rel)
		case v.ConfigMap != nil:
			return itemSource("configMap", v.ConfigMap.Name, v.ConfigMap.Items, rel)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.ServiceAccountToken != nil && src.ServiceAccountToken.Path == rel {
					return fileSource{kind: "serviceAccountToken", key: rel}, true
				}
			}
		}
		return fileSource{}, false
	}
	return fileSource{}, false
}

// itemSource maps rel to a key: through items when listed, else rel is
// the key itself (every key is projected).
func itemSource(kind, name string, items []corev1.KeyToPath, rel string) (fileSource, bool) {
	if len(items) == 0 {
		return fileSource{kind: kind, object: name, key: rel}, true
	}
	for _, it := range items {
		if it.Path == rel {
			return fileSource{kind: kind, object: name, key: it.Key}, true
		}
	}
	return fileSource{}, false
}

func findVolume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// readableSecretKeys lists "secret/key" for every Secret key that c can
// read through its mounts.
func readableSecretKeys(spec *corev1.PodSpec, c *corev1.Container, secretKeys map[string][]string) []string {
	var out []string
	for _, m := range c.VolumeMounts {
		v := findVolume(spec, m.Name)
		if v == nil || v.Secret == nil {
			continue
		}
		if len(v.Secret.Items) == 0 {
			for _, k := range secretKeys[v.Secret.SecretName] {
				out = append(out, v.Secret.SecretName+"/"+k)
			}
			continue
		}
		for _, it := range v.Secret.Items {
			out = append(out, v.Secret.SecretName+"/"+it.Key)
		}
	}
	return out
}

// checkHardened asserts the container runs non-root, read-only, with no
// capabilities and the runtime's seccomp profile (pod-level fallbacks
// count where Kubernetes applies them).
func checkHardened(t *testing.T, pod *corev1.PodSpec, c *corev1.Container) {
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("container %s has no securityContext", c.Name)
		return
	}
	psc := pod.SecurityContext
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		t.Errorf("container %s: runAsNonRoot is not true", c.Name)
	}
	uid := sc.RunAsUser
	if uid == nil && psc != nil {
		uid = psc.RunAsUser
	}
	if c.Name != "sender" && (uid == nil || *uid == 0) {
		t.Errorf("container %s: no non-zero runAsUser (the distroless nonroot user is 65532)", c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container %s is privileged", c.Name)
	}
	dropsAll := false
	if sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			dropsAll = dropsAll || d == "ALL"
		}
		if len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s adds capabilities %v", c.Name, sc.Capabilities.Add)
		}
	}
	if !dropsAll {
		t.Errorf("container %s does not drop ALL capabilities", c.Name)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && psc != nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container %s: seccomp profile is not RuntimeDefault", c.Name)
	}
}

// checkProbes asserts liveness and startup GET /healthz and readiness GET
// /readyz on the port that the health listener (addr) binds, and that the
// listener is reachable by the kubelet (not loopback-only).
func checkProbes(t *testing.T, c *corev1.Container, what, addr string) {
	host, port := hostPort(t, what, addr)
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("container %s: %s %q is loopback-only; the kubelet probes the pod IP", c.Name, what, addr)
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"startupProbe", c.StartupProbe, "/healthz"},
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
	}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("container %s: no HTTP %s", c.Name, p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path {
			t.Errorf("container %s: %s path %q, want %q", c.Name, p.name, g.Path, p.path)
		}
		n, ok := containerPort(c, g.Port.String())
		if !ok {
			t.Errorf("container %s: %s port %q is not a declared container port", c.Name, p.name, g.Port.String())
			continue
		}
		if n != port {
			t.Errorf("container %s: %s hits port %d but %s listens on %d", c.Name, p.name, n, what, port)
		}
		if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
			t.Errorf("container %s: %s scheme %s, the health listener is plain HTTP", c.Name, p.name, g.Scheme)
		}
	}
}

// fileFlags are the settings that name a file the process reads, and the
// Secret/ConfigMap key (or projected path) it must come from; "" means the
// key is configurable and only has to exist.
var fileFlags = map[string]string{
	"ca-cert":              "ca.crt",
	"ca-key":               "ca.key",
	"tenant-key-file":      "",
	"upstream-ca":          "",
	"vault-ca-cert":        "",
	"vault-k8s-jwt-file":   "token",
	"vault-secret-id-file": "secret-id",
	"vault-token-file":     "token",
	"jwt-hs256-key-file":   "",
	"jwt-jwks-file":        "jwks.json",
}

// checkFiles asserts every file setting of c resolves to a mounted item.
func checkFiles(t *testing.T, spec *corev1.PodSpec, c *corev1.Container, s settings) {
	for flag, wantKey := range fileFlags {
		file, ok := s.flags[flag]
		if !ok {
			continue
		}
		src, ok := resolveFile(spec, c, file)
		if !ok {
			t.Errorf("container %s: --%s=%s is not a file of any mounted volume", c.Name, flag, file)
			continue
		}
		if wantKey != "" && src.key != wantKey {
			t.Errorf("container %s: --%s=%s comes from %s %q key %q, want key %q", c.Name, flag, file, src.kind, src.object, src.key, wantKey)
		}
	}
	for _, m := range c.VolumeMounts {
		if findVolume(spec, m.Name) == nil {
			t.Errorf("container %s mounts volume %q that the pod lacks", c.Name, m.Name)
		}
		if !m.ReadOnly {
			t.Errorf("container %s mounts %q read-write", c.Name, m.Name)
		}
	}
}
