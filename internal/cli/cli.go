// Package cli is the process plumbing that Sidekey's command and its
// development and benchmark tools share: a context that SIGINT and SIGTERM
// cancel, and one way to turn the outcome into an exit status.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs run with the command line's arguments (without the program
// name) and the standard streams, under a context that SIGINT and SIGTERM
// cancel, and exits with the status run returns.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run is Main for a tool that parses the flag package's command line
// itself and returns an error: the error is printed as "name: error" on
// standard error and the process exits with status 1; without one, 0.
func Run(name string, run func(ctx context.Context) error) {
	Main(func(ctx context.Context, _ []string, _, stderr io.Writer) int {
		if err := run(ctx); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		return 0
	})
}
