package charts

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden compares `helm template` of the default values, and of the
// example sender and OIDC variants, with testdata/*.golden.yaml. A change to the
// chart shows up as a reviewable diff: `go test ./charts/... -update`.
func TestGolden(t *testing.T) {
	cases := []struct {
		name, values string
	}{
		{"default", ""},
		{"sender", filepath.Join(chartDir, "ci", "sender-values.yaml")},
		{"oidc", filepath.Join(chartDir, "ci", "oidc-values.yaml")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := renderChart(t, chartDir, tc.values)
			golden := filepath.Join("testdata", tc.name+".golden.yaml")
			if *update {
				if err := os.MkdirAll("testdata", 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o600); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden) // #nosec G304 -- a golden file of this package
			if err != nil {
				t.Fatalf("%v (run go test ./charts/... -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("helm template differs from %s (go test ./charts/... -update rewrites it):\n%s", golden, lineDiff(want, got))
			}
		})
	}
}

// lineDiff shows the first differing lines with a little context.
func lineDiff(want, got []byte) string {
	w, g := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	var b bytes.Buffer
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl []byte
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if !bytes.Equal(wl, gl) {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}
