package charts

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/testbin"
)

// binary is cmd/sidekey built the way the Dockerfile does (static,
// CGO_ENABLED=0, -trimpath), once per test binary (TestMain removes it).
var binary = testbin.LazyBuild{Prefix: "sidekey-charts-", Env: []string{"CGO_ENABLED=0"}, Flags: []string{"-trimpath"}}

func TestMain(m *testing.M) { binary.Main(m) }

// sidekeyBinary returns the path of the binary, building it on first use.
func sidekeyBinary(t *testing.T) string {
	t.Helper()
	return binary.Binaries(t)[0]
}

// helpFlags runs `sidekey CMD --help` and returns the flags it lists.
func helpFlags(t *testing.T, bin, sub string) map[string]bool {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, sub, "--help") // #nosec G204 -- the binary under test
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sidekey %s --help: %v\n%s", sub, err, stderr.String())
	}
	line := regexp.MustCompile(`(?m)^  --([a-z0-9-]+)(?: \(default "[^"]*"\))?  \[\$(SIDEKEY_[A-Z0-9_]+)\]$`)
	flags := map[string]bool{}
	for _, m := range line.FindAllStringSubmatch(stdout.String()+stderr.String(), -1) {
		if want := "SIDEKEY_" + strings.ToUpper(strings.ReplaceAll(m[1], "-", "_")); m[2] != want {
			t.Errorf("sidekey %s --help: --%s reads $%s, want $%s", sub, m[1], m[2], want)
		}
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("sidekey %s --help lists no flag:\n%s%s", sub, stdout.String(), stderr.String())
	}
	return flags
}

// acceptsArgs runs `sidekey SUB ARGS... --help`: the flag package parses
// every argument before it reaches --help, so exit 0 means each name is a
// flag of SUB and each value parses (durations, integers, booleans).
func acceptsArgs(t *testing.T, variant, bin, sub string, args []string) {
	t.Helper()
	cmd := exec.Command(bin, append(append([]string{sub}, args...), "--help")...) // #nosec G204 -- the binary under test with rendered flags
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Errorf("%s: sidekey %s refuses the chart's flags (exit %d): %s", variant, sub, exit.ExitCode(), firstLine(stderr.String()))
	} else if err != nil {
		t.Fatal(err)
	}
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Usage:") {
			return l
		}
	}
	return s
}

// asArgs turns settings back into --name=value arguments, sorted.
func asArgs(s settings) []string {
	var args []string
	for n, v := range s.flags {
		if s.origin[n] == "secret" {
			v = "from-a-secret" // the value is in a Secret; the name is what counts
		}
		args = append(args, "--"+n+"="+v)
	}
	sort.Strings(args)
	return args
}

// contractFlags are the flag names fixed by the brief of the chart: every
// one must be settable through the chart's values (some variant sets it).
var contractFlags = map[string][]string{
	"proxy": {"listen", "metrics-listen", "ca-cert", "ca-key", "tenant-key-file", "passthrough-hosts",
		"allow-plain-http-injection", "allow-upstream-cidr", "upstream-ca", "max-body-bytes", "max-header-bytes",
		"read-timeout", "write-timeout", "idle-timeout", "upstream-timeout", "max-conns", "scrub-responses",
		"cache-ttl", "cache-size", "negative-ttl", "max-stale", "feed-interval", "drain-timeout", "log-level"},
	"admin": {"listen", "metrics-listen", "jwt-hs256-key-file", "jwt-jwks-file", "jwt-issuer", "jwt-audience",
		"jwt-leeway", "max-value-bytes", "cors-origins", "shutdown-timeout", "log-level"},
	"vault": {"vault-addr", "vault-ca-cert", "vault-mount", "vault-prefix", "vault-timeout", "vault-auth",
		"vault-token-file", "vault-role-id", "vault-secret-id-file", "vault-k8s-role", "vault-k8s-jwt-file", "vault-auth-mount"},
}

// TestBinary checks the chart against the real binary: the settings of the
// sidecar and of the admin in every variant are flags that `sidekey proxy
// --help` and `sidekey admin --help` list, with values they accept, and
// every flag of the contract is reachable from the values; and the
// Dockerfile's build recipe yields a static binary run as the chart's user.
func TestBinary(t *testing.T) {
	bin := sidekeyBinary(t)

	t.Run("static", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the CGO_ENABLED=0 build has an ELF interpreter: it is not static and will not run on distroless/static")
			}
		}
		if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
			t.Errorf("the binary links shared libraries %v (%v)", libs, err)
		}
	})

	t.Run("dockerfile", func(t *testing.T) {
		checkDockerfile(t)
	})

	t.Run("build context", func(t *testing.T) {
		checkBuildContext(t)
	})

	for _, sub := range []string{"admin", "proxy"} {
		t.Run(sub, func(t *testing.T) {
			flags := helpFlags(t, bin, sub)
			used := map[string]bool{}
			for _, v := range variants(t) {
				m := decode(t, renderChart(t, chartDir, v.values))
				component, container := "admin", "admin"
				if sub == "proxy" {
					component, container = "example-sender", "sidekey-proxy"
				}
				d := m.deployment(t, component)
				if d == nil {
					continue
				}
				c, _ := findContainer(&d.Spec.Template.Spec, container)
				s := containerSettings(t, c, m.configMaps)
				checkKnown(t, v.name, sub, s, flags, used)
				acceptsArgs(t, v.name, bin, sub, asArgs(s))
			}
			want := slices.Concat(contractFlags[sub], contractFlags["vault"])
			for _, f := range want {
				if !used[f] {
					t.Errorf("no documented variant sets %s --%s: the chart's values cannot reach it", sub, f)
				}
			}
			for f := range flags {
				if !used[f] && !slices.Contains(want, f) {
					t.Logf("sidekey %s --%s is not exposed by the chart (the binary's default applies)", sub, f)
				}
			}
		})
	}
}

// checkKnown asserts every setting names a flag of the subcommand.
func checkKnown(t *testing.T, variant, sub string, s settings, flags map[string]bool, used map[string]bool) {
	t.Helper()
	if s.command != sub {
		t.Errorf("%s: container runs %q, want %q", variant, s.command, sub)
	}
	for n := range s.flags {
		if !flags[n] {
			t.Errorf("%s: the chart sets %s --%s (from %s), which `sidekey %s --help` does not list", variant, sub, n, s.origin[n], sub)
		}
		used[n] = true
	}
}

// checkDockerfile reads the Dockerfile's recipe: a static build of
// ./cmd/sidekey, a scratch or distroless non-root final stage whose user is the one
// the chart runs as, and the binary as the entrypoint.
func checkDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(froms))
	}
	final := froms[len(froms)-1][1]
	if final != "scratch" && (!strings.Contains(final, "distroless/static") || !strings.HasSuffix(final, ":nonroot")) {
		t.Errorf("final stage %q is neither scratch nor distroless static nonroot", final)
	}
	if !regexp.MustCompile(`CGO_ENABLED=0\s+go build\b[^\n]*(\\\n[^\n]*)*\./cmd/sidekey`).MatchString(df) {
		t.Error("Dockerfile does not build ./cmd/sidekey with CGO_ENABLED=0")
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\d+)(?::(\d+))?\s*$`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 {
		t.Fatal("Dockerfile sets no numeric USER (Kubernetes' runAsNonRoot needs a numeric uid)")
	}
	uid, _ := strconv.Atoi(users[len(users)-1][1])
	if uid == 0 {
		t.Error("Dockerfile runs as root")
	}
	m := decode(t, renderChart(t, chartDir))
	d := m.deployment(t, "admin")
	if psc := d.Spec.Template.Spec.SecurityContext; psc == nil || psc.RunAsUser == nil || int(*psc.RunAsUser) != uid {
		t.Errorf("the chart's runAsUser differs from the image's USER %d", uid)
	}
	copies := regexp.MustCompile(`(?m)^COPY --from=\S+\s+\S+\s+(\S+)\s*$`).FindAllStringSubmatch(df, -1)
	entry := regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"\]`).FindStringSubmatch(df)
	if entry == nil || !slices.ContainsFunc(copies, func(c []string) bool { return c[1] == entry[1] }) {
		t.Errorf("ENTRYPOINT %v is not a binary copied from the build stage %v", entry, copies)
	}
}

// checkBuildContext copies the repository as `docker build` would send it
// (without what .dockerignore excludes) and builds the Dockerfile's target
// there: an ignore pattern that drops a file the build needs (an embedded
// asset, a package) fails here rather than in someone's image build.
func checkBuildContext(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			if strings.HasPrefix(l, "!") {
				t.Fatalf(".dockerignore exception %q: extend checkBuildContext first", l)
			}
			patterns = append(patterns, strings.TrimPrefix(l, "/"))
		}
	}
	ctxDir := t.TempDir()
	copied := 0
	err = filepath.WalkDir("..", func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("..", p)
		if err != nil || rel == "." {
			return err
		}
		if dockerIgnored(patterns, filepath.ToSlash(rel)) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() || !e.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p) // #nosec G304 -- walking this repository
		if err != nil {
			return err
		}
		copied++
		return writeFileErr(filepath.Join(ctxDir, rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"go.mod", "go.sum", "cmd/sidekey/main.go"} {
		if _, err := os.Stat(filepath.Join(ctxDir, must)); err != nil {
			t.Fatalf("the build context lacks %s", must)
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(t.TempDir(), "sidekey"), "./cmd/sidekey") // #nosec G204 -- the go tool on the copied context
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in the Docker build context (%d files): %v\n%s", copied, err, out)
	}
}

// dockerIgnored reports whether rel (slash-separated) matches a pattern
// the way .dockerignore does for the forms used here: a path or glob that
// matches rel or one of its parent directories, and "**/" for any depth.
func dockerIgnored(patterns []string, rel string) bool {
	parts := strings.Split(rel, "/")
	for _, pat := range patterns {
		if rest, ok := strings.CutPrefix(pat, "**/"); ok {
			for i := range parts {
				for j := i + 1; j <= len(parts); j++ {
					if m, _ := path.Match(rest, strings.Join(parts[i:j], "/")); m {
						return true
					}
				}
			}
			continue
		}
		for j := 1; j <= len(parts); j++ {
			if m, _ := path.Match(pat, strings.Join(parts[:j], "/")); m {
				return true
			}
		}
	}
	return false
}

func writeFileErr(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
		return err
	}
	return os.WriteFile(name, data, 0o600)
}
