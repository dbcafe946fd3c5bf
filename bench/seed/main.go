// Command seed prepares a proxy benchmark run: it draws fresh random values
// for the benchmark's secrets, writes them to -out (mode 0600; the
// upstream verifies against them and the mitmproxy addon injects them) and
// creates the secrets in Vault through the vaultstore package, exactly as
// the admin API would.
//
//	VAULT_ADDR=http://127.0.0.1:18200 VAULT_TOKEN=root seed -out values.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/sidekey/sidekey/bench/internal/spec"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/vaultstore"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "", "file to write the values to (required)")
	mount := flag.String("vault-mount", "secret", "KV v2 mount")
	prefix := flag.String("vault-prefix", "sidekey", "path prefix under the mount")
	allowed := flag.String("allowed-host", "127.0.0.1", "allowed_hosts of the secrets (empty: any host)")
	valuesOnly := flag.Bool("values-only", false, "write the values file and skip Vault (peers only)")
	flag.Parse()
	if *out == "" {
		return errors.New("-out is required")
	}

	vals, err := spec.Generate()
	if err != nil {
		return err
	}
	if err := spec.Save(*out, vals); err != nil {
		return err
	}
	if *valuesOnly {
		return nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := vaultstore.New(ctx, vaultstore.Config{Mount: *mount, Prefix: *prefix, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("connect to Vault: %w", err)
	}
	var hosts []string
	if *allowed != "" {
		hosts = []string{*allowed}
	}
	tenant := secret.Tenant{Org: spec.Org, Domain: spec.Domain}
	inputs := []vaultstore.CreateInput{
		{Alias: spec.AliasAPIKey, Type: secret.TypeToken, Value: secret.Value{Token: vals.APIKey}, AllowedHosts: hosts, Actor: "bench-seed"},
		{Alias: spec.AliasAccount, Type: secret.TypeUsernamePassword, Value: secret.Value{Username: vals.Username, Password: vals.Password}, AllowedHosts: hosts, Actor: "bench-seed"},
	}
	for _, in := range inputs {
		// A rerun against the same Vault rotates instead.
		if _, err := st.Create(ctx, tenant, in); err != nil {
			if !errors.Is(err, vaultstore.ErrAliasTaken) {
				return fmt.Errorf("create %s: %w", in.Alias, err)
			}
			if _, err := st.Rotate(ctx, tenant, in.Alias, vaultstore.RotateInput{Type: in.Type, Value: in.Value, AllowedHosts: &hosts, Actor: in.Actor}); err != nil {
				return fmt.Errorf("rotate %s: %w", in.Alias, err)
			}
		}
	}
	return nil
}
