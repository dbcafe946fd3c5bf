// Command seed prepares a proxy benchmark run: it draws fresh random values
// for the benchmark's secrets, writes them to -out (mode 0600; the
// upstream verifies against them and the mitmproxy addon injects them) and
// creates the secrets in Vault through the vaultstore package, exactly as
// the admin API would.
//
//	VAULT_ADDR=http://127.0.0.1:18200 VAULT_TOKEN=root seed -out values.json
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/sidekey/sidekey/bench/internal/spec"
	"github.com/sidekey/sidekey/internal/cli"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/vaultstore"
)

func main() { cli.Run("seed", run) }

func run(ctx context.Context) error {
	out := flag.String("out", "", "file to write the values to (required)")
	mount := flag.String("vault-mount", "secret", "KV v2 mount")
	prefix := flag.String("vault-prefix", "sidekey", "path prefix under the mount")
	allowed := flag.String("allowed-host", "127.0.0.1", "allowed_hosts of the secrets (empty: any host)")
	valuesOnly := flag.Bool("values-only", false, "write the values file and skip Vault (peers only)")
	policyFile := flag.String("sidecar-policy", "deploy/vault/sidecar.hcl", "Vault policy of the sidecar")
	tokenOut := flag.String("sidecar-token-out", "", "write a token of the sidecar policy to this file")
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

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := vaultstore.NewWriter(ctx, vaultstore.Config{Mount: *mount, Prefix: *prefix, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("connect to Vault: %w", err)
	}
	var hosts []string
	if *allowed != "" {
		hosts = []string{*allowed}
	}
	tenant := secret.Tenant{Org: spec.Org, Domain: spec.Domain}
	inputs := []secret.CreateInput{
		{Alias: spec.AliasAPIKey, Type: secret.TypeToken, Value: secret.Value{Token: vals.APIKey}, AllowedHosts: hosts, Actor: "bench-seed"},
		{Alias: spec.AliasAccount, Type: secret.TypeUsernamePassword, Value: secret.Value{Username: vals.Username, Password: vals.Password}, AllowedHosts: hosts, Actor: "bench-seed"},
	}
	for _, in := range inputs {
		// A rerun against the same Vault rotates instead.
		if _, err := st.Create(ctx, tenant, in); err != nil {
			if !errors.Is(err, secret.ErrAliasTaken) {
				return fmt.Errorf("create %s: %w", in.Alias, err)
			}
			if _, err := st.Rotate(ctx, tenant, in.Alias, secret.RotateInput{Type: in.Type, Value: in.Value, AllowedHosts: &hosts, Actor: in.Actor}); err != nil {
				return fmt.Errorf("rotate %s: %w", in.Alias, err)
			}
		}
	}
	if *tokenOut != "" {
		return sidecarToken(ctx, *policyFile, *tokenOut)
	}
	return nil
}

// sidecarToken installs the sidecar's least-privilege policy and writes a
// token of that policy alone, so that the proxy under test runs as it
// would in production. It speaks Vault's HTTP API directly: only vaultstore
// imports vault/api.
func sidecarToken(ctx context.Context, policyFile, out string) error {
	addr, root := os.Getenv("VAULT_ADDR"), os.Getenv("VAULT_TOKEN")
	if addr == "" || root == "" {
		return errors.New("VAULT_ADDR and VAULT_TOKEN are required")
	}
	policy, err := os.ReadFile(policyFile)
	if err != nil {
		return fmt.Errorf("read policy: %w", err)
	}
	call := func(method, path string, in, outv any) error {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, method, addr+path, bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		req.Header.Set("X-Vault-Token", root)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
		}
		if outv != nil {
			if err := json.Unmarshal(body, outv); err != nil {
				return fmt.Errorf("%s %s: decode: %w", method, path, err)
			}
		}
		return nil
	}
	if err := call(http.MethodPut, "/v1/sys/policies/acl/sidekey-sidecar-bench", map[string]string{"policy": string(policy)}, nil); err != nil {
		return err
	}
	var created struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	req := map[string]any{"policies": []string{"sidekey-sidecar-bench"}, "no_default_policy": true, "ttl": "2h", "renewable": true}
	if err := call(http.MethodPost, "/v1/auth/token/create", req, &created); err != nil {
		return err
	}
	if created.Auth.ClientToken == "" {
		return errors.New("token create: no token in the answer")
	}
	if err := os.WriteFile(out, []byte(created.Auth.ClientToken+"\n"), 0o600); err != nil {
		return fmt.Errorf("write token: %w", err)
	}
	return nil
}
