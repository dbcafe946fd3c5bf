package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/vault/helper/namespace"
	"github.com/hashicorp/vault/sdk/logical"
	vaultseal "github.com/hashicorp/vault/vault/seal"

	"github.com/hashicorp/vault/vault"
)

func storageDir(dataDir string) string { return filepath.Join(dataDir, "storage") }
func keyFile(dataDir string) string    { return filepath.Join(dataDir, "unseal.key") }

// bootstrap initialises and unseals a new Vault (root token, KV v2 at
// secret/, AppRole and Kubernetes auth), or unseals one kept in -data-dir.
func bootstrap(ctx context.Context, core *vault.Core, o options) error {
	ctx = namespace.RootContext(ctx)
	initialized, err := core.Initialized(ctx)
	if err != nil {
		return fmt.Errorf("check initialised: %w", err)
	}
	if initialized {
		return reopen(ctx, core, o)
	}

	barrier := &vault.SealConfig{SecretShares: 1, SecretThreshold: 1, Name: "shamir"}
	if core.SealAccess().StoredKeysSupported() != vaultseal.StoredKeysNotSupported {
		barrier.StoredShares = 1
	}
	init, err := core.Initialize(ctx, &vault.InitParams{BarrierConfig: barrier})
	if err != nil {
		return fmt.Errorf("initialise: %w", err)
	}
	key := init.SecretShares[0]
	if o.dataDir != "" {
		if err := os.WriteFile(keyFile(o.dataDir), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return fmt.Errorf("store unseal key: %w", err)
		}
	}
	if err := unseal(core, key); err != nil {
		return err
	}

	// Replace the generated root token by one with the requested id, as
	// `vault server -dev -dev-root-token-id` does.
	if _, err := handle(ctx, core, init.RootToken, "auth/token/create", map[string]any{
		"id":                o.rootToken,
		"policies":          []string{"root"},
		"no_parent":         true,
		"no_default_policy": true,
	}); err != nil {
		return fmt.Errorf("create root token: %w", err)
	}
	if _, err := handle(ctx, core, init.RootToken, "auth/token/revoke-self", nil); err != nil {
		return fmt.Errorf("revoke initial root token: %w", err)
	}

	setup := []struct {
		path string
		data map[string]any
	}{
		{"sys/mounts/secret", map[string]any{
			"type":        "kv",
			"description": "key/value secret storage",
			"options":     map[string]string{"version": "2"},
		}},
		{"sys/auth/approle", map[string]any{"type": "approle"}},
		{"sys/auth/kubernetes", map[string]any{"type": "kubernetes"}},
	}
	for _, s := range setup {
		if _, err := handle(ctx, core, o.rootToken, s.path, s.data); err != nil {
			return fmt.Errorf("set up %s: %w", s.path, err)
		}
	}
	return nil
}

// reopen unseals a Vault kept in -data-dir with its stored key.
func reopen(ctx context.Context, core *vault.Core, o options) error {
	if o.dataDir == "" {
		return errors.New("in-memory storage is already initialised")
	}
	raw, err := os.ReadFile(keyFile(o.dataDir))
	if err != nil {
		return fmt.Errorf("read unseal key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("decode unseal key: %w", err)
	}
	if core.Sealed() {
		if err := unseal(core, key); err != nil {
			return err
		}
	}
	if _, err := handle(ctx, core, o.rootToken, "auth/token/lookup-self", nil); err != nil {
		return fmt.Errorf("root token is not valid for the Vault in %s (was it started with another -root-token?): %w", o.dataDir, err)
	}
	return nil
}

func unseal(core *vault.Core, key []byte) error {
	k := make([]byte, len(key))
	copy(k, key)
	ok, err := core.Unseal(k)
	if err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	if !ok {
		return errors.New("unseal: still sealed after the only key share")
	}
	return nil
}

// handle sends one update request to the core, as the HTTP API would.
func handle(ctx context.Context, core *vault.Core, token, path string, data map[string]any) (*logical.Response, error) {
	req := &logical.Request{
		Operation:   logical.UpdateOperation,
		ClientToken: token,
		Path:        path,
		Data:        data,
	}
	resp, err := core.HandleRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp != nil && resp.IsError() {
		return nil, resp.Error()
	}
	return resp, nil
}
