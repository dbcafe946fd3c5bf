// Command sidekey is the secret-injecting sidecar proxy, its admin API and
// their tools. This file only dispatches subcommands; see SPEC §6.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sidekey/sidekey/internal/cli"
)

const usage = `sidekey keeps notification credentials out of templates.

Usage:
  sidekey proxy  [flags]        the sidecar forward proxy
  sidekey admin  [flags]        the admin API and web UI
  sidekey ca init --out DIR     writes ca.crt and ca.key for the proxy
  sidekey token admin --key-file F --role R --org O [--domain D ...] [--ttl T]
  sidekey token proxy --key-file F --org O --domain D
  sidekey version

Every flag also reads SIDEKEY_<FLAG> from the environment (dashes become
underscores). Run "sidekey COMMAND --help" for a command's flags.
`

func main() { cli.Main(run) }

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "proxy":
		return runProxy(ctx, rest, stdout, stderr)
	case "admin":
		return runAdmin(ctx, rest, stdout, stderr)
	case "ca":
		return runCA(ctx, rest, stdout, stderr)
	case "token":
		return runToken(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "sidekey %s\n", version)
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sidekey: unknown command %q (run \"sidekey help\")\n", cmd)
		return exitConfig
	}
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return flagExit(stderr, "token", errors.New(`want "admin" or "proxy"`))
	}
	switch args[0] {
	case "admin":
		return runTokenAdmin(ctx, args[1:], stdout, stderr)
	case "proxy":
		return runTokenProxy(ctx, args[1:], stdout, stderr)
	default:
		return flagExit(stderr, "token", fmt.Errorf(`unknown kind %q, want "admin" or "proxy"`, args[0]))
	}
}
