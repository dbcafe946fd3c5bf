package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// envPrefix is the prefix of the environment fallback of every flag.
const envPrefix = "SIDEKEY_"

// Exit codes of every command (SPEC §6).
const (
	// exitFailure: the configuration was valid but the command failed
	// (Vault unreachable at start, a listener that cannot open, a serve
	// error).
	exitFailure = 1
	// exitConfig: a bad command line, flag, environment variable or file
	// named by a flag; nothing was dialled or listened on.
	exitConfig = 2
)

// envName returns the environment variable that backs a flag:
// "tenant-key-file" → "SIDEKEY_TENANT_KEY_FILE".
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a FlagSet whose --help output lists each flag with its
// default and its environment variable.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sidekey %s\n\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(fs.Output(), "  --%s%s  [$%s]\n      %s\n", f.Name, def, envName(f.Name), f.Usage)
		})
	}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command
// line from its SIDEKEY_* variable. It returns flag.ErrHelp for --help.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("$%s: %w", envName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// flagExit maps a configuration error (a parseFlags error included) to
// exitConfig, printing one line; --help exits 0.
func flagExit(stderr io.Writer, cmd string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "sidekey %s: %s\n", cmd, singleLine(err))
	return exitConfig
}

// failExit reports a failure after a valid configuration, on one line,
// and returns exitFailure.
func failExit(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "sidekey %s: %s\n", cmd, singleLine(err))
	return exitFailure
}

// stringList is a repeatable (and comma-separated) string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
