package testbin

import (
	"fmt"
	"os"
	"path/filepath"
)

// RepoFile returns the path of a file of the repository (such as
// deploy/vault/admin.hcl or bin/vaultdev), found by walking up from the
// working directory.
func RepoFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testbin: %s not found above the test's directory", rel)
		}
		dir = parent
	}
}

// DevBinary returns the path of a development binary that `make target`
// builds into the repository's bin/: $env when it is set, else bin/name
// in the nearest directory above the working directory that has one. Its
// errors say which make target builds the binary.
func DevBinary(env, name, target string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil { //nolint:gosec // test helper: the developer names the binary
			return "", fmt.Errorf("%s=%s: %w (run `make %s`)", env, p, err, target)
		}
		return p, nil
	}
	p, err := RepoFile(filepath.Join("bin", name))
	if err != nil {
		return "", fmt.Errorf("bin/%s not found above the test's directory: run `make %s` (or set %s)", name, target, env)
	}
	return p, nil
}
