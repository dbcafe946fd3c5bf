package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one entry of the image's file system.
type File struct {
	Path string // absolute, slash-separated
	Mode int64  // permission bits (and sticky bit)
	Data []byte // nil for a directory
	Dir  bool
}

// Layer returns a gzip OCI layer holding files and every parent directory,
// sorted by path, owned by root, with mtime. The same input gives the same
// bytes (no host uid, user names, access times or build time inside).
func Layer(files []File, mtime time.Time) (v1.Layer, error) {
	var raw bytes.Buffer
	if err := writeTar(&raw, withParents(files), mtime); err != nil {
		return nil, err
	}
	data := raw.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	return layer, nil
}

// withParents adds a 0755 directory entry for every parent of every file
// that files does not list itself, and sorts the result by path.
func withParents(files []File) []File {
	byPath := make(map[string]File, len(files))
	for _, f := range files {
		byPath[strings.TrimPrefix(f.Path, "/")] = f
		for dir := path.Dir(strings.TrimPrefix(f.Path, "/")); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = File{Path: "/" + dir, Mode: 0o755, Dir: true}
			}
		}
	}
	out := make([]File, 0, len(byPath))
	for _, f := range byPath {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func writeTar(w io.Writer, files []File, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(f.Path, "/"),
			Mode:    f.Mode,
			ModTime: mtime.UTC(),
			Format:  tar.FormatPAX,
		}
		if f.Dir {
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		} else {
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("image: tar header %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("image: tar %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("image: tar: %w", err)
	}
	return nil
}
