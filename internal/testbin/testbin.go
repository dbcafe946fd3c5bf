// Package testbin holds what the end-to-end test packages share: building
// the real sidekey binary once per test binary, and naming a secret value in
// a failure message without revealing it.
package testbin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/sidekey/sidekey/internal/vaulttest"
)

// BuildSidekey builds ./cmd/sidekey into a new temporary directory named
// after prefix and returns the binary's path and a cleanup that removes the
// directory. Call it from TestMain.
func BuildSidekey(prefix string) (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, fmt.Errorf("testbin: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	root, err := vaulttest.RepoFile("go.mod")
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("testbin: find the module root: %w", err)
	}
	bin = filepath.Join(dir, "sidekey")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sidekey") // #nosec G204 -- the go tool building this module into a temp dir
	build.Dir = filepath.Dir(root)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("testbin: build sidekey: %w", err)
	}
	return bin, cleanup, nil
}

// Fingerprint names a value in a failure message without revealing it: its
// length and the start of its SHA-256.
func Fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%d bytes, sha256 %s…", len(s), hex.EncodeToString(sum[:4]))
}
