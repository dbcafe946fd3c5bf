package charts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "sidekey"
	releaseName = "sidekey"
	namespace   = "sidekey"
)

// variant is one documented way to install the chart: the default values,
// or a values file under charts/sidekey/ci.
type variant struct {
	name   string
	values string // path relative to charts/, empty for the defaults
}

// variants returns the default plus every ci/*-values.yaml, so a variant
// added to the chart is tested without editing this file.
func variants(t *testing.T) []variant {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sender", "ingress", "approle", "kubernetes"}
	vs := []variant{{name: "default"}}
	got := map[string]bool{}
	for _, f := range files {
		n := strings.TrimSuffix(filepath.Base(f), "-values.yaml")
		got[n] = true
		vs = append(vs, variant{name: n, values: f})
	}
	for _, n := range want {
		if !got[n] {
			t.Fatalf("documented variant %q has no %s/ci/%s-values.yaml", n, chartDir, n)
		}
	}
	return vs
}

// helmBin returns the pinned Helm, failing the test when it is missing.
func helmBin(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "bin", "helm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Helm is not installed at %s: run make helm", p)
	}
	return p
}

// helm runs the pinned Helm with a private home, so no user config or
// repository cache changes what it does. It returns stdout, and stderr
// joined into the error on failure.
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...) // #nosec G204 -- the pinned Helm with test-chosen arguments
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// valuesArgs turns values files into -f arguments.
func valuesArgs(files ...string) []string {
	var args []string
	for _, f := range files {
		if f != "" {
			args = append(args, "-f", f)
		}
	}
	return args
}

// renderChart runs `helm template` on chart with the values files.
func renderChart(t *testing.T, chart string, files ...string) []byte {
	t.Helper()
	args := append([]string{"template", releaseName, chart, "--namespace", namespace}, valuesArgs(files...)...)
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// serviceMonitor mirrors the fields of monitoring.coreos.com/v1
// ServiceMonitor that the chart sets; decoding into it strictly rejects a
// field the chart sets that is not one of these.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests are the decoded objects of one render.
type manifests struct {
	source      map[any]string // object → "# Source:" template, for messages
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	accounts    []*corev1.ServiceAccount
	ingresses   []*networkingv1.Ingress
	policies    []*networkingv1.NetworkPolicy
	pdbs        []*policyv1.PodDisruptionBudget
	monitors    []*serviceMonitor
	kinds       []string // every apiVersion/kind, in order
}

// slots maps each apiVersion/kind the chart may render to a function that
// appends a new object to its list in m and returns it.
func (m *manifests) slots() map[string]func() any {
	return map[string]func() any{
		"apps/v1/Deployment":                      func() any { return add(&m.deployments) },
		"v1/Service":                              func() any { return add(&m.services) },
		"v1/ConfigMap":                            func() any { return add(&m.configMaps) },
		"v1/ServiceAccount":                       func() any { return add(&m.accounts) },
		"networking.k8s.io/v1/Ingress":            func() any { return add(&m.ingresses) },
		"networking.k8s.io/v1/NetworkPolicy":      func() any { return add(&m.policies) },
		"policy/v1/PodDisruptionBudget":           func() any { return add(&m.pdbs) },
		"monitoring.coreos.com/v1/ServiceMonitor": func() any { return add(&m.monitors) },
	}
}

// add appends a new T to list and returns it.
func add[T any](list *[]*T) *T {
	o := new(T)
	*list = append(*list, o)
	return o
}

// decode splits a multi-document render and decodes each document strictly
// (duplicate keys and unknown fields are errors) into its API type.
func decode(t *testing.T, rendered []byte) *manifests {
	t.Helper()
	m := &manifests{source: map[any]string{}}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("split the render: %v", err)
		}
		src := sourceOf(doc)
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if tm.Kind == "" && len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		gvk := tm.APIVersion + "/" + tm.Kind
		newObj, ok := m.slots()[gvk]
		if !ok {
			t.Fatalf("%s: unexpected kind %q (add it to manifests.slots)", src, gvk)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: strict decode of %s: %v", src, gvk, err)
		}
		m.source[obj] = src
		m.kinds = append(m.kinds, gvk)
	}
	if len(m.kinds) == 0 {
		t.Fatal("the render holds no object")
	}
	return m
}

func sourceOf(doc []byte) string {
	for _, line := range strings.Split(string(doc), "\n") {
		if s, ok := strings.CutPrefix(line, "# Source: "); ok {
			return s
		}
	}
	return "(no source)"
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// deployment returns the one Deployment whose component label is c, or nil.
func (m *manifests) deployment(t *testing.T, component string) *appsv1.Deployment {
	t.Helper()
	var found *appsv1.Deployment
	for _, d := range m.deployments {
		if d.Labels["app.kubernetes.io/component"] == component {
			if found != nil {
				t.Fatalf("two %s Deployments", component)
			}
			found = d
		}
	}
	return found
}
