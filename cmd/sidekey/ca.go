package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/sidekey/sidekey/internal/ca"
)

// runCA implements "sidekey ca init --out DIR [--force]".
func runCA(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "init" {
		return flagExit(stderr, "ca", errors.New(`want "init --out DIR"`))
	}
	fs := newFlagSet("ca init", "ca init --out DIR [--force]", stderr)
	out := fs.String("out", "", "directory to write ca.crt and ca.key (0600) into")
	force := fs.Bool("force", false, "replace an existing CA in DIR")
	if err := parseOneLine(fs, args[1:], stderr); err != nil {
		return flagExit(stderr, "ca init", err)
	}
	if *out == "" {
		return flagExit(stderr, "ca init", errors.New("--out DIR is required"))
	}
	c, err := ca.Init(*out, *force)
	if err != nil {
		return failExit(stderr, "ca init", err)
	}
	fmt.Fprintf(stdout, "wrote %s and %s (%s, valid until %s)\n",
		filepath.Join(*out, ca.CertFile), filepath.Join(*out, ca.KeyFile),
		c.Cert.Subject.CommonName, c.Cert.NotAfter.UTC().Format("2006-01-02"))
	return 0
}
