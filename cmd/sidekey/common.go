package main

import (
	"flag"
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sidekey/sidekey/vaultstore"
)

// addVaultFlags registers the Vault flags shared by proxy and admin on
// vaultstore.DefaultConfig() and returns the config they fill. Empty
// address and token fall back to the standard VAULT_ADDR, VAULT_CACERT and
// VAULT_TOKEN variables.
func addVaultFlags(fs *flag.FlagSet) *vaultstore.Config {
	c := vaultstore.DefaultConfig()
	fs.StringVar(&c.Address, "vault-addr", c.Address, "Vault address (default $VAULT_ADDR)")
	fs.StringVar(&c.CACert, "vault-ca-cert", c.CACert, "PEM file of the CA of Vault's TLS certificate (default $VAULT_CACERT)")
	fs.StringVar(&c.Mount, "vault-mount", c.Mount, "KV v2 mount")
	fs.StringVar(&c.Prefix, "vault-prefix", c.Prefix, "path prefix under the mount")
	fs.DurationVar(&c.Timeout, "vault-timeout", c.Timeout, "bound of one Vault call, retries included, when the request sets none")
	fs.StringVar(&c.Auth.Method, "vault-auth", c.Auth.Method, "auth method: token, approle or kubernetes")
	fs.StringVar(&c.Auth.TokenFile, "vault-token-file", c.Auth.TokenFile, "file holding the Vault token (default $VAULT_TOKEN)")
	fs.StringVar(&c.Auth.RoleID, "vault-role-id", c.Auth.RoleID, "AppRole role id")
	fs.StringVar(&c.Auth.SecretIDFile, "vault-secret-id-file", c.Auth.SecretIDFile, "file holding the AppRole secret id")
	fs.StringVar(&c.Auth.Role, "vault-k8s-role", c.Auth.Role, "Vault role for Kubernetes auth")
	fs.StringVar(&c.Auth.JWTFile, "vault-k8s-jwt-file", c.Auth.JWTFile, "service account token for Kubernetes auth")
	fs.StringVar(&c.Auth.MountPath, "vault-auth-mount", c.Auth.MountPath, "mount path of the auth method (default approle or kubernetes)")
	return &c
}

// checkVaultFlags validates the Vault flags (addVaultFlags) before
// anything is dialled; its error names each bad flag.
func checkVaultFlags(c *vaultstore.Config) error {
	return flagErrors(c.Validate(), map[string]string{
		"Timeout": "--vault-timeout", "Mount": "--vault-mount", "Prefix": "--vault-prefix", "Auth.Method": "--vault-auth",
	})
}

// vaultConfig returns the Vault configuration of the flags (addVaultFlags)
// with the store's logger, a child of log.
func vaultConfig(c *vaultstore.Config, log *zap.Logger) vaultstore.Config {
	vc := *c
	vc.Logger = log.Named("vaultstore")
	return vc
}

// configure runs what a server command does before it dials or listens:
// check validates every flag at once and returns the command's
// configuration, then the logger of level is made. Its error is a
// configuration error (exitConfig).
func configure[C any](check func() (C, error), level string) (C, *zap.Logger, error) {
	cfg, err := check()
	if err != nil {
		return cfg, nil, err
	}
	log, err := newLogger(level)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, log, nil
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
