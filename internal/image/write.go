package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Output names inside the output directory.
const (
	LayoutDir    = "oci"               // OCI image layout (skopeo, crane, oras)
	TarballFile  = "sidekey.tar"       // docker load / podman load
	SBOMFile     = "sidekey.spdx.json" // SPDX 2.3
	SumsFile     = "SHA256SUMS"
	RefNameLabel = "org.opencontainers.image.ref.name"
)

// Write replaces dir with the image as an OCI layout, a loadable tarball
// tagged ref, the SBOM and a SHA256SUMS file over the tarball, the SBOM
// and the layout's index. It returns the image digest.
func Write(dir string, img v1.Image, ref name.Tag, sbom []byte) (v1.Hash, error) {
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("image: digest: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, fmt.Errorf("image: clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // a build output meant to be read and shipped
		return v1.Hash{}, fmt.Errorf("image: %w", err)
	}
	lp, err := layout.Write(filepath.Join(dir, LayoutDir), empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("image: layout: %w", err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{RefNameLabel: ref.TagStr()})); err != nil {
		return v1.Hash{}, fmt.Errorf("image: layout: %w", err)
	}
	if err := tarball.WriteToFile(filepath.Join(dir, TarballFile), ref, img); err != nil {
		return v1.Hash{}, fmt.Errorf("image: tarball: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, SBOMFile), sbom, 0o644); err != nil { //nolint:gosec // public build output
		return v1.Hash{}, fmt.Errorf("image: sbom: %w", err)
	}
	if err := writeSums(dir, TarballFile, SBOMFile, filepath.Join(LayoutDir, "index.json")); err != nil {
		return v1.Hash{}, err
	}
	return digest, nil
}

// writeSums writes SumsFile in dir in the format of sha256sum(1), so
// `sha256sum -c SHA256SUMS` checks it.
func writeSums(dir string, names ...string) error {
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("image: checksum %s: %w", n, err)
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	if err := os.WriteFile(filepath.Join(dir, SumsFile), []byte(b.String()), 0o644); err != nil { //nolint:gosec // public build output
		return fmt.Errorf("image: checksums: %w", err)
	}
	return nil
}

// Push uploads img to ref's registry with the credentials of the local
// Docker config (the same as crane and docker use).
func Push(ctx context.Context, img v1.Image, ref name.Reference) error {
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("image: push %s: %w", ref, err)
	}
	return nil
}

// Read opens the single image of an OCI layout written by Write.
func Read(dir string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, LayoutDir))
	if err != nil {
		return nil, fmt.Errorf("image: read layout: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image: read layout: %w", err)
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("image: read layout: %d manifests, want 1", len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("image: read layout: %w", err)
	}
	return img, nil
}
