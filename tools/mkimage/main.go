// Command mkimage builds Sidekey's OCI image from a built binary without a
// Docker engine (internal/image) and writes it under -out: an OCI layout, a
// tarball for `docker load`, an SPDX SBOM and SHA256SUMS. It pushes only
// with -push. Its last line of output is the image digest. `make image`
// runs it; see docs/deploy.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/sidekey/sidekey/internal/cli"
	"github.com/sidekey/sidekey/internal/image"
)

func main() { cli.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg     image.Config
		out     = fs.String("out", "bin/image", "output directory (replaced)")
		ref     = fs.String("image", image.DefaultRepository+":dev", "image name and tag (registry/repository:tag)")
		created = fs.String("created", "0", "creation time and file mtime, Unix seconds (use the commit time: git log -1 --format=%ct)")
		push    = fs.Bool("push", false, "push the image to -image's registry (credentials: the local Docker config)")
	)
	fs.StringVar(&cfg.Binary, "binary", "bin/linux/sidekey", "the static sidekey binary (CGO_ENABLED=0)")
	fs.StringVar(&cfg.CABundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to ship as "+image.CABundlePath)
	fs.StringVar(&cfg.Version, "version", "dev", "org.opencontainers.image.version label")
	fs.StringVar(&cfg.Revision, "revision", "", "org.opencontainers.image.revision label (the git commit)")
	fs.StringVar(&cfg.Source, "source", image.DefaultSource, "org.opencontainers.image.source label")
	fs.StringVar(&cfg.Arch, "arch", "", "the binary's GOARCH (default: this machine's)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	secs, err := strconv.ParseInt(*created, 10, 64)
	if err != nil || secs < 0 {
		fmt.Fprintf(stderr, "mkimage: -created: want Unix seconds ≥ 0, got %q\n", *created)
		return 2
	}
	cfg.Created = time.Unix(secs, 0).UTC()
	tag, err := name.NewTag(*ref, name.StrictValidation)
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: -image: %v\n", err)
		return 2
	}
	if err := build(ctx, cfg, *out, tag, *push, stdout); err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	return 0
}

func build(ctx context.Context, cfg image.Config, out string, tag name.Tag, push bool, stdout io.Writer) error {
	img, err := image.Build(cfg)
	if err != nil {
		return err
	}
	sbom, err := image.SBOM(cfg.Binary, cfg.Version, cfg.Created)
	if err != nil {
		return err
	}
	digest, err := image.Write(out, img, tag, sbom)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "image %s written to %s (%s, %s, %s, %s)\n", tag, out,
		image.LayoutDir+"/", image.TarballFile, image.SBOMFile, image.SumsFile)
	if push {
		if err := image.Push(ctx, img, tag); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pushed %s@%s\n", tag.Context(), digest)
	}
	fmt.Fprintln(stdout, digest)
	return nil
}
