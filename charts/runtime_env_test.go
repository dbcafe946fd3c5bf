package charts

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSidecarRuntimeEnv checks the Go runtime settings the chart gives the
// proxy sidecar: GODEBUG by default (sysmon polling, see values.yaml), and
// GOMAXPROCS, GOMEMLIMIT and an empty godebug as set.
func TestSidecarRuntimeEnv(t *testing.T) {
	sender := filepath.Join(chartDir, "ci", "sender-values.yaml")
	override := filepath.Join(t.TempDir(), "runtime-values.yaml")
	if err := os.WriteFile(override, []byte("sidecar:\n  godebug: \"\"\n  goMaxProcs: 1\n  goMemLimit: 230MiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		files []string
		want  map[string]string // "" = absent
	}{
		{"defaults", []string{sender}, map[string]string{"GODEBUG": "schedtrace=2147483647", "GOMAXPROCS": "", "GOMEMLIMIT": ""}},
		{"set", []string{sender, override}, map[string]string{"GODEBUG": "", "GOMAXPROCS": "1", "GOMEMLIMIT": "230MiB"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := decode(t, renderChart(t, chartDir, tc.files...))
			d := m.deployment(t, "example-sender")
			if d == nil {
				t.Fatal("no example sender rendered")
			}
			proxy, _ := findContainer(&d.Spec.Template.Spec, "sidekey-proxy")
			if proxy == nil {
				t.Fatal("example sender has no sidekey-proxy container")
			}
			env := map[string]string{}
			for _, e := range proxy.Env {
				env[e.Name] = e.Value
			}
			for name, want := range tc.want {
				if got, ok := env[name]; got != want || (want == "" && ok) {
					t.Errorf("sidecar env %s = %q (set %v), want %q", name, got, ok, want)
				}
			}
		})
	}
}
