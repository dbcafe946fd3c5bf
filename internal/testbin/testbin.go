// Package testbin holds what the end-to-end test packages share: building
// the real sidekey binary once per test binary, and naming a secret value in
// a failure message without revealing it.
package testbin

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
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
	if bin, err = BuildSidekeyIn(dir, nil); err != nil {
		cleanup()
		return "", nil, err
	}
	return bin, cleanup, nil
}

// BuildSidekeyIn builds ./cmd/sidekey into dir/sidekey with the go build
// flags and, added to the environment, env (such as CGO_ENABLED=0), and
// returns the binary's path.
func BuildSidekeyIn(dir string, env []string, flags ...string) (string, error) {
	root, err := RepoFile("go.mod")
	if err != nil {
		return "", fmt.Errorf("testbin: find the module root: %w", err)
	}
	bin := filepath.Join(dir, "sidekey")
	args := append(append([]string{"build"}, flags...), "-o", bin, "./cmd/sidekey")
	build := exec.Command("go", args...) // #nosec G204 -- the go tool building this module
	build.Dir = filepath.Dir(root)
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testbin: go build ./cmd/sidekey: %w\n%s", err, out)
	}
	return bin, nil
}

// Fingerprint names a value in a failure message without revealing it: its
// length and the start of its SHA-256.
func Fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%d bytes, sha256 %s…", len(s), hex.EncodeToString(sum[:4]))
}

// RandomString returns prefix followed by 32 random hex digits: a value
// distinctive enough to grep for in logs and responses.
func RandomString(t testing.TB, prefix string) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// WriteFile writes content to dir/name with mode 0600 and returns the path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Run runs a short command of the binary and returns its trimmed stdout;
// it fails the test with the command's stderr when the command fails.
func Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...) // #nosec G204 -- the binary built by BuildSidekey
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v: %s", filepath.Base(bin), args[0], err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// maxOutput bounds what an Output keeps of a long-running process.
const maxOutput = 1 << 20

// Output collects a process's output for showing on failure, keeping the
// first MiB. It is safe for concurrent use.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer; it never fails.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := maxOutput - o.b.Len(); room > 0 {
		o.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// String returns what was kept.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Main is a TestMain that builds the sidekey binary into *bin (see
// BuildSidekey), runs the tests, removes the binary and exits.
func Main(m *testing.M, prefix string, bin *string) {
	b, cleanup, err := BuildSidekey(prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// LazyBuild builds sidekey binaries on first use, once per test binary,
// into a temporary directory that its Main (the TestMain) deletes.
type LazyBuild struct {
	// Prefix names the temporary directory.
	Prefix string
	// Env and Flags are BuildSidekeyIn's.
	Env   []string
	Flags []string
	// Copies is how many binaries to build, back to back from the same
	// source (default 1).
	Copies int

	once sync.Once
	dir  string
	bins []string
	err  error
}

// Binaries returns the paths of the binaries, building them on the first
// call; a failed build fails the test.
func (l *LazyBuild) Binaries(t testing.TB) []string {
	t.Helper()
	l.once.Do(func() {
		if l.dir, l.err = os.MkdirTemp("", l.Prefix); l.err != nil {
			return
		}
		for i := range max(l.Copies, 1) {
			bin, err := BuildSidekeyIn(filepath.Join(l.dir, strconv.Itoa(i)), l.Env, l.Flags...)
			if err != nil {
				l.err = err
				return
			}
			l.bins = append(l.bins, bin)
		}
	})
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.bins
}

// Main is a TestMain that runs the tests, removes the binaries built and
// exits.
func (l *LazyBuild) Main(m *testing.M) {
	code := m.Run()
	if l.dir != "" {
		_ = os.RemoveAll(l.dir)
	}
	os.Exit(code)
}
