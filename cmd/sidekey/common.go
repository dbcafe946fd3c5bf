package main

import (
	"flag"
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sidekey/sidekey/vaultstore"
)

// addVaultFlags registers the Vault flags shared by proxy and admin and
// returns the config they fill. Empty address and token fall back to the
// standard VAULT_ADDR, VAULT_CACERT and VAULT_TOKEN variables.
func addVaultFlags(fs *flag.FlagSet) *vaultstore.Config {
	c := &vaultstore.Config{}
	fs.StringVar(&c.Address, "vault-addr", "", "Vault address (default $VAULT_ADDR)")
	fs.StringVar(&c.CACert, "vault-ca-cert", "", "PEM file of the CA of Vault's TLS certificate (default $VAULT_CACERT)")
	fs.StringVar(&c.Mount, "vault-mount", "secret", "KV v2 mount")
	fs.StringVar(&c.Prefix, "vault-prefix", "sidekey", "path prefix under the mount")
	fs.DurationVar(&c.Timeout, "vault-timeout", 5*time.Second, "bound of one Vault call, retries included, when the request sets none")
	fs.StringVar(&c.Auth.Method, "vault-auth", "token", "auth method: token, approle or kubernetes")
	fs.StringVar(&c.Auth.TokenFile, "vault-token-file", "", "file holding the Vault token (default $VAULT_TOKEN)")
	fs.StringVar(&c.Auth.RoleID, "vault-role-id", "", "AppRole role id")
	fs.StringVar(&c.Auth.SecretIDFile, "vault-secret-id-file", "", "file holding the AppRole secret id")
	fs.StringVar(&c.Auth.Role, "vault-k8s-role", "", "Vault role for Kubernetes auth")
	fs.StringVar(&c.Auth.JWTFile, "vault-k8s-jwt-file", "/var/run/secrets/kubernetes.io/serviceaccount/token", "service account token for Kubernetes auth")
	fs.StringVar(&c.Auth.MountPath, "vault-auth-mount", "", "mount path of the auth method (default approle or kubernetes)")
	return c
}

// newLogger returns the one JSON logger of the process.
func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	return cfg.Build()
}
