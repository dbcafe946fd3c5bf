// Package image builds Sidekey's OCI container image without a Docker
// engine, with go-containerregistry: one layer on an empty base holding the
// static binary, a CA bundle and /etc/passwd and /etc/group naming the
// non-root user 65532 — no shell, no package manager. The same inputs give
// the same bytes, so the same commit gives the same image digest.
package image

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths inside the image.
const (
	BinaryPath   = "/usr/local/bin/sidekey"
	CABundlePath = "/etc/ssl/certs/ca-certificates.crt"
	PasswdPath   = "/etc/passwd"
	GroupPath    = "/etc/group"
)

// User is the image's user: nonroot (65532), as in distroless images.
const User = "65532:65532"

// DefaultRepository is where the chart pulls the image from by default
// (charts/sidekey/values.yaml image.repository).
const DefaultRepository = "ghcr.io/sidekey/sidekey"

// DefaultSource is the org.opencontainers.image.source label.
const DefaultSource = "https://github.com/sidekey/sidekey"

//go:embed rootfs/etc/passwd rootfs/etc/group
var rootfs embed.FS

// Config says what goes into the image.
type Config struct {
	// Binary is the path of the static sidekey binary (CGO_ENABLED=0).
	Binary string
	// CABundle is the path of the PEM CA bundle copied to CABundlePath.
	CABundle string
	// Version, Revision and Source become the OCI labels.
	Version  string
	Revision string
	Source   string
	// Created is the image's creation time and every file's mtime; the
	// commit time keeps builds reproducible. The zero time means the epoch.
	Created time.Time
	// Arch is the binary's GOARCH; empty means this machine's.
	Arch string
}

// Validate reports the first missing or unreadable input, by field name.
func (c Config) Validate() error {
	if c.Binary == "" {
		return errors.New("image: Binary: required")
	}
	if c.CABundle == "" {
		return errors.New("image: CABundle: required")
	}
	if c.Version == "" {
		return errors.New("image: Version: required")
	}
	for name, path := range map[string]string{"Binary": c.Binary, "CABundle": c.CABundle} {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("image: %s: %w", name, err)
		}
	}
	return nil
}

// Build assembles the image in memory. It reads the binary and CA bundle
// once and writes nothing.
func Build(cfg Config) (v1.Image, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("image: read binary: %w", err)
	}
	cas, err := os.ReadFile(cfg.CABundle)
	if err != nil {
		return nil, fmt.Errorf("image: read CA bundle: %w", err)
	}
	passwd, _ := rootfs.ReadFile("rootfs/etc/passwd") // embedded: cannot fail
	group, _ := rootfs.ReadFile("rootfs/etc/group")

	files := []File{
		{Path: PasswdPath, Mode: 0o644, Data: passwd},
		{Path: GroupPath, Mode: 0o644, Data: group},
		{Path: CABundlePath, Mode: 0o644, Data: cas},
		{Path: BinaryPath, Mode: 0o755, Data: bin},
		{Path: "/tmp", Mode: 0o1777, Dir: true},
	}
	layer, err := Layer(files, cfg.Created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, fmt.Errorf("image: append layer: %w", err)
	}
	return withConfig(img, cfg)
}

func withConfig(img v1.Image, cfg Config) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	cf = cf.DeepCopy()
	arch := cfg.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	created := v1.Time{Time: cfg.Created.UTC()}
	cf.OS, cf.Architecture, cf.Created = "linux", arch, created
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"--help"},
		Env:        []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + CABundlePath},
		WorkingDir: "/",
		ExposedPorts: map[string]struct{}{
			"8080/tcp": {}, "8081/tcp": {}, "9090/tcp": {}, "9091/tcp": {},
		},
		Labels: Labels(cfg),
	}
	// The history entry carries the same fixed time, so nothing in the
	// config depends on when the build ran.
	cf.History = []v1.History{{Created: created, CreatedBy: "sidekey internal/image", Comment: "static binary, CA bundle, passwd"}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: set config: %w", err)
	}
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// Labels are the image's OCI annotations-as-labels.
func Labels(cfg Config) map[string]string {
	src := cfg.Source
	if src == "" {
		src = DefaultSource
	}
	l := map[string]string{
		"org.opencontainers.image.title":       "sidekey",
		"org.opencontainers.image.description": "Keeps notification credentials out of templates: secret-injecting sidecar proxy and admin API",
		"org.opencontainers.image.source":      src,
		"org.opencontainers.image.version":     cfg.Version,
		"org.opencontainers.image.created":     cfg.Created.UTC().Format(time.RFC3339),
	}
	if cfg.Revision != "" {
		l["org.opencontainers.image.revision"] = cfg.Revision
	}
	return l
}
