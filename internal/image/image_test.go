package image_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"sigs.k8s.io/yaml"

	"github.com/sidekey/sidekey/internal/image"
	"github.com/sidekey/sidekey/internal/testbin"
)

const testVersion = "v0.0.0-imagetest"

var created = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// shared are the binaries the tests share, built as `make image` does
// (static, trimmed, without a build id): the same source linked twice,
// back to back (so a change to a shared working tree rarely lands between
// them), once per test run.
var shared = testbin.LazyBuild{
	Prefix: "sidekey-image-bin-", Copies: 2,
	Env:   []string{"CGO_ENABLED=0", "GOOS=linux"},
	Flags: []string{"-trimpath", "-ldflags", "-s -w -buildid= -X main.version=" + testVersion},
}

func TestMain(m *testing.M) { shared.Main(m) }

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

func testConfig(bin string) image.Config {
	return image.Config{
		Binary: bin, CABundle: "/etc/ssl/certs/ca-certificates.crt",
		Version: testVersion, Revision: "0123456789abcdef", Created: created,
	}
}

func buildAndWrite(t *testing.T, bin, out string) v1.Hash {
	t.Helper()
	cfg := testConfig(bin)
	img, err := image.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sbom, err := image.SBOM(bin, cfg.Version, cfg.Created)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := image.Write(out, img, name.MustParseReference(image.DefaultRepository+":test").(name.Tag), sbom)
	if err != nil {
		t.Fatal(err)
	}
	return digest
}

func TestImageContents(t *testing.T) {
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Fatalf("CA bundle missing (make deps installs ca-certificates): %v", err)
	}
	bin := shared.Binaries(t)[0]
	out := filepath.Join(t.TempDir(), "out")
	digest := buildAndWrite(t, bin, out)

	img, err := image.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := img.Digest(); got != digest {
		t.Fatalf("layout holds %s, Write returned %s", got, digest)
	}
	checkConfig(t, img)
	files := layerFiles(t, img)
	checkFileSet(t, files)
	checkBinary(t, files[strings.TrimPrefix(image.BinaryPath, "/")], bin)
	checkPasswd(t, files["etc/passwd"])
	checkSums(t, out)
	checkSBOM(t, filepath.Join(out, image.SBOMFile), bin)
	runAsNonRoot(t, files[strings.TrimPrefix(image.BinaryPath, "/")])
}

func checkConfig(t *testing.T, img v1.Image) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532 (non-root)", c.User)
	}
	if strings.HasPrefix(c.User, "0") || c.User == "" || c.User == "root" {
		t.Errorf("user %q is root", c.User)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != image.BinaryPath {
		t.Errorf("entrypoint = %q, want [%s]", c.Entrypoint, image.BinaryPath)
	}
	want := map[string]string{
		"org.opencontainers.image.source":   image.DefaultSource,
		"org.opencontainers.image.revision": "0123456789abcdef",
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.created":  "2026-11-01T12:00:00Z",
	}
	for k, v := range want {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if !cf.Created.Equal(created) {
		t.Errorf("created = %s, want %s", cf.Created, created)
	}
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

func layerFiles(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.TrimSuffix(hdr.Name, "/")
		if _, dup := files[n]; dup {
			t.Errorf("path %s twice in the layer", n)
		}
		files[n] = entry{hdr: hdr, data: data}
	}
	return files
}

// checkFileSet: exactly the expected paths, nothing else (no shell, no
// package manager, no stray directories), root-owned, with the fixed mtime.
func checkFileSet(t *testing.T, files map[string]entry) {
	t.Helper()
	want := []string{
		"etc", "etc/group", "etc/passwd", "etc/ssl", "etc/ssl/certs",
		"etc/ssl/certs/ca-certificates.crt", "tmp", "usr", "usr/local",
		"usr/local/bin", "usr/local/bin/sidekey",
	}
	var got []string
	for n, e := range files {
		got = append(got, n)
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Uname != "" || e.hdr.Gname != "" {
			t.Errorf("%s owned by %d:%d (%q:%q), want 0:0 without names", n, e.hdr.Uid, e.hdr.Gid, e.hdr.Uname, e.hdr.Gname)
		}
		if !e.hdr.ModTime.Equal(created) {
			t.Errorf("%s mtime %s, want %s", n, e.hdr.ModTime, created)
		}
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("layer paths:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m := files["usr/local/bin/sidekey"].hdr.Mode; m != 0o755 {
		t.Errorf("binary mode %o, want 755", m)
	}
}

func checkBinary(t *testing.T, e entry, bin string) {
	t.Helper()
	built, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := sha256.Sum256(e.data), sha256.Sum256(built); a != b {
		t.Errorf("binary in the layer sha256:%x, built sha256:%x", a, b)
	}
}

func checkPasswd(t *testing.T, e entry) {
	t.Helper()
	if !bytes.Contains(e.data, []byte("nonroot:x:65532:65532:")) {
		t.Errorf("/etc/passwd has no nonroot 65532 user:\n%s", e.data)
	}
}

func checkSums(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, image.SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("SHA256SUMS has %d lines, want 3:\n%s", len(lines), b)
	}
	for _, l := range lines {
		sum, file, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("bad SHA256SUMS line %q", l)
		}
		data, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match", file)
		}
	}
}

func checkSBOM(t *testing.T, path, bin string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name      string `json:"name"`
			Version   string `json:"versionInfo"`
			Checksums []struct {
				Value string `json:"checksumValue"`
			} `json:"checksums"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" {
		t.Errorf("spdxVersion %q", doc.SPDXVersion)
	}
	built, _ := os.ReadFile(bin)
	sum := sha256.Sum256(built)
	names := map[string]string{}
	for _, p := range doc.Packages {
		names[p.Name] = p.Version
		if p.Name == "github.com/sidekey/sidekey" && (len(p.Checksums) != 1 || p.Checksums[0].Value != hex.EncodeToString(sum[:])) {
			t.Errorf("SBOM main package checksum does not match the binary")
		}
	}
	for _, mod := range []string{"github.com/sidekey/sidekey", "github.com/valyala/fasthttp", "github.com/hashicorp/vault/api", "stdlib"} {
		if names[mod] == "" {
			t.Errorf("SBOM lacks %s", mod)
		}
	}
}

// runAsNonRoot extracts the layer's binary and runs it as uid 65532 in a
// read-only working directory, as the image would.
func runAsNonRoot(t *testing.T, e entry) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running as uid 65532 needs root (CI and make test run as root)")
	}
	dir, err := os.MkdirTemp("", "sidekey-image-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin := filepath.Join(dir, "sidekey")
	if err := os.WriteFile(bin, e.data, 0o755); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // MkdirTemp makes it 0700
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "sidekey " + testVersion},
		{[]string{"proxy", "--help"}, "--listen"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Dir = ro
		cmd.Env = []string{"PATH=/usr/local/bin", "HOME=/home/nonroot"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("sidekey %s as 65532: %v\n%s", strings.Join(c.args, " "), err, out)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("sidekey %s: output lacks %q:\n%s", strings.Join(c.args, " "), c.want, out)
		}
	}
	// The working directory really is read-only for that user.
	probe := exec.Command("/bin/sh", "-c", "touch x")
	probe.Dir = ro
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	if err := probe.Run(); err == nil {
		t.Error("uid 65532 could write the read-only working directory; the run above proves nothing")
	}
}

// TestImageReproducible: two builds of the same source — the binary linked
// twice, the image assembled from each — give the same image digest and the
// same tarball bytes.
func TestImageReproducible(t *testing.T) {
	bins := shared.Binaries(t)
	var digests []v1.Hash
	var tars [][]byte
	for _, bin := range bins {
		out := filepath.Join(t.TempDir(), "out")
		digests = append(digests, buildAndWrite(t, bin, out))
		b, err := os.ReadFile(filepath.Join(out, image.TarballFile))
		if err != nil {
			t.Fatal(err)
		}
		tars = append(tars, b)
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds gave %s and %s; binaries: %s", digests[0], digests[1], compareBinaries(bins))
	}
	if !bytes.Equal(tars[0], tars[1]) {
		t.Fatal("two builds gave the same digest but different tarballs")
	}
}

// compareBinaries says whether the two links differ and, if so, whether the
// source under them changed (another commit or edit between the links).
func compareBinaries(bins []string) string {
	var sums [2][32]byte
	var vcs [2]string
	for i, b := range bins {
		data, err := os.ReadFile(b)
		if err != nil {
			return err.Error()
		}
		sums[i] = sha256.Sum256(data)
		info, err := buildinfo.ReadFile(b)
		if err != nil {
			return err.Error()
		}
		for _, s := range info.Settings {
			if strings.HasPrefix(s.Key, "vcs.") {
				vcs[i] += s.Key + "=" + s.Value + " "
			}
		}
	}
	if sums[0] == sums[1] {
		return "identical, so the difference is in the image assembly"
	}
	return fmt.Sprintf("differ (build info %q vs %q; a commit or edit between the two links also changes the binary)", vcs[0], vcs[1])
}

// TestImageNameMatchesChart: the chart pulls what `make image` names.
func TestImageNameMatchesChart(t *testing.T) {
	root := repoRoot(t)
	var values struct {
		Image struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
		} `json:"image"`
	}
	b, err := os.ReadFile(filepath.Join(root, "charts/sidekey/values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	if values.Image.Repository != image.DefaultRepository {
		t.Errorf("chart image.repository %q, image.DefaultRepository %q", values.Image.Repository, image.DefaultRepository)
	}
	if values.Image.Tag != "" {
		t.Errorf("chart image.tag %q: want empty (the chart's appVersion, which make image tags)", values.Image.Tag)
	}
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", root, "print-image")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make print-image: %v\n%s", err, out)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	b, err = os.ReadFile(filepath.Join(root, "charts/sidekey/Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), image.DefaultRepository+":"+chart.AppVersion; got != want {
		t.Errorf("make image names %q, the chart pulls %q", got, want)
	}
}

// TestImageDockerfileSameLayout: the Dockerfile, for machines with a Docker
// engine, names the same user, entrypoint, files and labels as the builder.
func TestImageDockerfileSameLayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Join continued lines so each instruction is one line.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var final []string // instructions of the last stage
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			final = nil
		}
		final = append(final, line)
	}
	if len(final) == 0 || final[0] != "FROM scratch" {
		t.Fatalf("last stage starts %q, want FROM scratch", final)
	}
	has := func(prefix string) string {
		for _, l := range final {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		return ""
	}
	if l := has("USER "); l != "USER "+image.User {
		t.Errorf("Dockerfile %q, want USER %s", l, image.User)
	}
	if l := has("ENTRYPOINT "); l != `ENTRYPOINT ["`+image.BinaryPath+`"]` {
		t.Errorf("Dockerfile %q, want ENTRYPOINT [%q]", l, image.BinaryPath)
	}
	var dests []string
	for _, l := range final {
		if f := strings.Fields(l); f[0] == "COPY" {
			dests = append(dests, f[len(f)-1])
		}
	}
	copied := strings.Join(dests, " ")
	for _, want := range []string{"/etc/", image.CABundlePath, "/tmp", image.BinaryPath} {
		if !strings.Contains(" "+copied+" ", " "+want+" ") {
			t.Errorf("Dockerfile COPY destinations %q lack %s", copied, want)
		}
	}
	if len(dests) != 4 {
		t.Errorf("Dockerfile copies to %q; want exactly the builder's files", copied)
	}
	labels := has("LABEL ")
	for k := range image.Labels(image.Config{Version: "v", Revision: "r"}) {
		if !strings.Contains(labels, k+"=") {
			t.Errorf("Dockerfile LABEL lacks %s", k)
		}
	}
}
