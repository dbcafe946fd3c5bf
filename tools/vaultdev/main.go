// Command vaultdev runs a real HashiCorp Vault core for Sidekey's development
// and tests: initialised and unsealed, a root token of the caller's choice,
// KV v2 mounted at secret/, AppRole and Kubernetes auth enabled, serving
// Vault's own HTTP API (no TLS) on a loopback address.
//
// Storage is in memory unless -data-dir is given: then Vault keeps its data in
// files there, together with the unseal key, and unseals itself on the next
// start, so a test can stop and restart Vault without losing secrets.
//
// Vault is licensed under the BUSL 1.1. This program is built only for
// development and tests (make vault); it is not part of the Sidekey product
// and is never shipped.
//
// When it serves, it prints one line to stdout:
//
//	vaultdev: ready addr=http://127.0.0.1:8200
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/internalshared/configutil"
	"github.com/hashicorp/vault/sdk/physical"
	"github.com/hashicorp/vault/sdk/physical/file"
	"github.com/hashicorp/vault/sdk/physical/inmem"

	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/vault"
)

type options struct {
	listen    string
	rootToken string
	dataDir   string
	logLevel  string
}

func main() {
	var o options
	fs := flag.NewFlagSet("vaultdev", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8200", "loopback `address` to serve Vault's HTTP API on (port 0 picks a free one)")
	fs.StringVar(&o.rootToken, "root-token", "root", "root token `id` (a dev secret, never a production one)")
	fs.StringVar(&o.dataDir, "data-dir", "", "keep Vault's data and unseal key in this `dir` across restarts (default: in memory)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "Vault's log `level` (trace, debug, info, warn, error)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "vaultdev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.rootToken == "" {
		return errors.New("-root-token must not be empty")
	}
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-listen %s: only loopback addresses are served (this is a dev server without TLS)", o.listen)
	}

	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "vault",
		Level:  hclog.LevelFromString(o.logLevel),
		Output: os.Stderr,
	})

	backend, err := newPhysical(o.dataDir, logger)
	if err != nil {
		return err
	}

	// Listen first so that the redirect address is known when the port is 0.
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer func() { _ = ln.Close() }() // closed already by a clean shutdown
	addr := "http://" + ln.Addr().String()

	core, err := vault.NewCore(&vault.CoreConfig{
		Physical:           backend,
		StorageType:        storageType(o.dataDir),
		Logger:             logger,
		DisableMlock:       true,
		RedirectAddr:       addr,
		BuiltinRegistry:    newRegistry(),
		LogicalBackends:    logicalBackends(),
		CredentialBackends: credentialBackends(),
	})
	if err != nil {
		return fmt.Errorf("create core: %w", err)
	}
	defer func() {
		if err := core.Shutdown(); err != nil {
			fmt.Fprintln(os.Stderr, "vaultdev: shutdown:", err)
		}
	}()

	if err := bootstrap(ctx, core, o); err != nil {
		return err
	}

	handler := vaulthttp.Handler.Handler(&vault.HandlerProperties{
		Core: core,
		ListenerConfig: &configutil.Listener{
			Type:       "tcp",
			Address:    ln.Addr().String(),
			TLSDisable: true,
		},
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	fmt.Printf("vaultdev: ready addr=%s\n", addr)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

func storageType(dataDir string) string {
	if dataDir == "" {
		return "inmem"
	}
	return "file"
}

func newPhysical(dataDir string, logger hclog.Logger) (physical.Backend, error) {
	if dataDir == "" {
		b, err := inmem.NewInmem(nil, logger)
		if err != nil {
			return nil, fmt.Errorf("inmem storage: %w", err)
		}
		return b, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	b, err := file.NewFileBackend(map[string]string{"path": storageDir(dataDir)}, logger)
	if err != nil {
		return nil, fmt.Errorf("file storage: %w", err)
	}
	return b, nil
}
