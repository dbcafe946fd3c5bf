package errcode_test

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/errcode"
)

// specTable returns code → status from the first "| code | status |" table
// under the SPEC section whose heading starts with heading.
func specTable(t *testing.T, spec, heading string) map[string]int {
	t.Helper()
	i := strings.Index(spec, "\n"+heading)
	if i < 0 {
		t.Fatalf("SPEC has no section %q", heading)
	}
	section := spec[i+1:]
	if j := strings.Index(section[1:], "\n## "); j >= 0 {
		section = section[:j+1]
	}
	k := strings.Index(section, "| code | status |")
	if k < 0 {
		t.Fatalf("section %q has no | code | status | table", heading)
	}
	row := regexp.MustCompile(`^\| ([a-z_, ]+) \| (\d{3}) \|$`)
	out := map[string]int{}
	for _, line := range strings.Split(section[k:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("section %q: cannot read table row %q", heading, line)
		}
		status, _ := strconv.Atoi(m[2])
		for _, c := range strings.Split(m[1], ",") {
			out[strings.TrimSpace(c)] = status
		}
	}
	return out
}

func registry(edge errcode.Edge) map[string]int {
	out := map[string]int{}
	for _, s := range errcode.Of(edge) {
		out[string(s.Code)] = s.Status
	}
	return out
}

func diff(t *testing.T, what string, doc, reg map[string]int) {
	t.Helper()
	for c, st := range reg {
		if got, ok := doc[c]; !ok {
			t.Errorf("%s lacks %s (registry: %d)", what, c, st)
		} else if got != st {
			t.Errorf("%s: %s is %d, registry says %d", what, c, got, st)
		}
	}
	for c := range doc {
		if _, ok := reg[c]; !ok {
			t.Errorf("%s names %s, which the registry does not have", what, c)
		}
	}
}

// TestRegistryMatchesSpec: SPEC §4's and §5's tables list exactly the
// registry's codes of each edge, with the same statuses.
func TestRegistryMatchesSpec(t *testing.T) {
	b, err := os.ReadFile("../../docs/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	diff(t, "SPEC §4", specTable(t, spec, "## 4."), registry(errcode.Proxy))
	diff(t, "SPEC §5", specTable(t, spec, "## 5."), registry(errcode.Admin))
}

// TestRegistryMatchesOpenAPI: the admin API's OpenAPI document enumerates
// exactly the registry's admin codes.
func TestRegistryMatchesOpenAPI(t *testing.T) {
	b, err := os.ReadFile("../../adminapi/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas.Error.Properties.Error.Properties.Code.Enum
	var want []string
	for c := range registry(errcode.Admin) {
		want = append(want, c)
	}
	sort.Strings(enum)
	sort.Strings(want)
	if strings.Join(enum, ",") != strings.Join(want, ",") {
		t.Errorf("openapi.json error codes %v, registry %v", enum, want)
	}
}

func TestRegistryWellFormed(t *testing.T) {
	seen := map[errcode.Code]bool{}
	wire := regexp.MustCompile(`^[a-z][a-z_]*[a-z]$`)
	for _, edge := range []errcode.Edge{errcode.Proxy, errcode.Admin} {
		for _, s := range errcode.Of(edge) {
			if !wire.MatchString(string(s.Code)) {
				t.Errorf("%q is not a snake_case wire code", s.Code)
			}
			if s.Status < 400 || s.Status > 599 {
				t.Errorf("%s: status %d is not an error", s.Code, s.Status)
			}
			if s.Meaning == "" || s.Code.Meaning() != s.Meaning || s.Code.Status() != s.Status || !s.Code.Known() {
				t.Errorf("%s: lookups disagree with the registry entry", s.Code)
			}
			seen[s.Code] = true
		}
	}
	if len(seen) < 25 {
		t.Errorf("registry has %d codes; SPEC §4 and §5 name more", len(seen))
	}
	unknown := errcode.Code("no_such_code")
	if unknown.Known() || unknown.Status() != 500 || unknown.Meaning() != "" {
		t.Error("an unknown code is not reported as unknown")
	}
}
