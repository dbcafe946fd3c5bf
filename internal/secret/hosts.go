package secret

import (
	"fmt"
	"strings"
)

const maxHostLen = 253

// NormalizeHostGlob lower-cases an allowed_hosts entry and checks it: a DNS
// name or IP address, optionally starting with "*." to match any name below
// it. Ports and schemes are not part of a glob.
func NormalizeHostGlob(glob string) (string, error) {
	g := strings.ToLower(strings.TrimSpace(glob))
	name := strings.TrimPrefix(g, "*.")
	if name == "" || len(g) > maxHostLen {
		return "", fmt.Errorf("must be a host name such as api.example.com or *.example.com")
	}
	if strings.Contains(name, "*") {
		return "", fmt.Errorf("a wildcard is allowed only as a leading \"*.\"")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("must be a host name such as api.example.com or *.example.com")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("must be a host name such as api.example.com or *.example.com")
			}
		}
	}
	return g, nil
}

// NormalizeHostGlobs normalises every entry, reporting failures per index
// under field (for example "allowed_hosts[2]").
func NormalizeHostGlobs(field string, globs []string) ([]string, error) {
	verr := &ValidationError{}
	out := make([]string, 0, len(globs))
	for i, g := range globs {
		n, err := NormalizeHostGlob(g)
		if err != nil {
			verr.Add(fmt.Sprintf("%s[%d]", field, i), "%s", err.Error())
			continue
		}
		out = append(out, n)
	}
	return out, verr.Err()
}

// HostAllowed reports whether host (a lower-case name or IP without port)
// matches one of the globs. An empty list allows every host. "*.example.com"
// matches names below example.com, not example.com itself.
func HostAllowed(globs []string, host string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if suffix, ok := strings.CutPrefix(g, "*"); ok {
			if len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
				return true
			}
			continue
		}
		if g == host {
			return true
		}
	}
	return false
}
