package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/tenantauth"
)

// runTokenProxy implements "sidekey token proxy": it prints the tenant's
// proxy credential, by default as the "<org>.<domain>:<credential>" pair
// that curl --proxy-user and proxy URLs (http://USER:PASS@host) take.
func runTokenProxy(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("token proxy", "token proxy --key-file F --org O --domain D [--format userpass|header|credential]", stderr)
	keyFile := fs.String("key-file", "", "tenant key file (the proxy's --tenant-key-file); the first key signs")
	org := fs.String("org", "", "org id")
	domain := fs.String("domain", "", "domain id")
	format := fs.String("format", "userpass", `output: "userpass" (org.domain:credential), "header" (the Proxy-Authorization value) or "credential" (the HMAC alone)`)
	if err := parseOneLine(fs, args, stderr); err != nil {
		return flagExit(stderr, "token proxy", err)
	}
	t := secret.Tenant{Org: *org, Domain: *domain}
	var errs []error
	if *keyFile == "" {
		errs = append(errs, errors.New("--key-file is required"))
	}
	if err := t.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--org and --domain: %w", err))
	}
	if *format != "userpass" && *format != "header" && *format != "credential" {
		errs = append(errs, fmt.Errorf("--format %q: want userpass, header or credential", *format))
	}
	if len(errs) > 0 {
		return flagExit(stderr, "token proxy", errors.Join(errs...))
	}
	keys, err := tenantauth.LoadKeyFile(*keyFile)
	if err != nil {
		return flagExit(stderr, "token proxy", fmt.Errorf("--key-file: %w", err))
	}
	switch *format {
	case "userpass":
		fmt.Fprintln(stdout, keys.UserPass(t))
	case "header":
		fmt.Fprintln(stdout, "Basic "+base64.StdEncoding.EncodeToString([]byte(keys.UserPass(t))))
	default:
		fmt.Fprintln(stdout, keys.Sign(t))
	}
	return 0
}
