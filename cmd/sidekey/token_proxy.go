package main

import (
	"context"
	"encoding/base64"
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
	if *keyFile == "" {
		fmt.Fprintln(stderr, "sidekey token proxy: --key-file is required")
		return 2
	}
	if err := t.Validate(); err != nil {
		fmt.Fprintf(stderr, "sidekey token proxy: --org and --domain: %v\n", err)
		return 2
	}
	keys, err := tenantauth.LoadKeyFile(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "sidekey token proxy: %v\n", err)
		return 1
	}
	switch *format {
	case "userpass":
		fmt.Fprintln(stdout, keys.UserPass(t))
	case "header":
		fmt.Fprintln(stdout, "Basic "+base64.StdEncoding.EncodeToString([]byte(keys.UserPass(t))))
	case "credential":
		fmt.Fprintln(stdout, keys.Sign(t))
	default:
		fmt.Fprintf(stderr, "sidekey token proxy: --format %q: want userpass, header or credential\n", *format)
		return 2
	}
	return 0
}
