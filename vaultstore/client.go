// Package vaultstore keeps Sidekey's secrets in HashiCorp Vault KV v2 under
// <mount>/data/<prefix>/orgs/<org>/domains/<domain>/secrets/<alias>
// (SPEC §2). It is the only package that imports vault/api.
//
// It is split by role, mirroring the two Vault policies (docs/vault.md):
//
//   - Client: the KV v2 client shared by both roles — login and token
//     renewal (Run), retries, the path layout and the raw KV calls.
//   - Writer: what the admin policy allows — Create, Rotate, Archive, List,
//     Get, and the change-feed append after each write.
//   - Reader: what the sidecar policy allows — Read of a value and the
//     change-feed poll; Cache is the proxy's read-through cache over it.
package vaultstore

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"
)

// Defaults of Config.
const (
	DefaultMount   = "secret"
	DefaultPrefix  = "sidekey"
	DefaultTimeout = 10 * time.Second
)

// AuthConfig selects how the client logs in to Vault.
type AuthConfig struct {
	// Method is "token" (default), "approle" or "kubernetes".
	Method string
	// Token, or TokenFile; when both are empty VAULT_TOKEN is used.
	Token     string
	TokenFile string
	// AppRole.
	RoleID       string
	SecretID     string
	SecretIDFile string
	// Kubernetes.
	Role    string
	JWTFile string // default /var/run/secrets/kubernetes.io/serviceaccount/token
	// MountPath of the auth method (default "approle" or "kubernetes").
	MountPath string
}

// Config configures a Client (and so a Writer or a Reader). Zero fields take the defaults; Address and the
// TLS settings also come from the standard VAULT_* environment variables.
type Config struct {
	Address string // default: VAULT_ADDR
	CACert  string // PEM file for Vault's TLS; default VAULT_CACERT
	Mount   string // KV v2 mount, default "secret"
	Prefix  string // default "sidekey"
	Auth    AuthConfig
	// Timeout bounds one Vault call when the caller's ctx has no deadline.
	Timeout time.Duration
	Logger  *zap.Logger
}

// Client is the Vault KV v2 client both roles use: it logs in, keeps its
// token renewed (Run), retries transient failures and knows the path
// layout. Writer and Reader embed it. It is safe for concurrent use.
type Client struct {
	cfg    Config
	client *api.Client
	log    *zap.Logger
	auth   authenticator

	loginMu      sync.Mutex
	token        *api.SecretAuth // the token in use
	lastLogin    time.Time
	tokenChanged chan struct{} // a login replaced the token
}

// connect connects to Vault and logs in as a role that embeds Client (a
// Reader or a Writer).
func connect[R ~struct{ *Client }](ctx context.Context, cfg Config) (*R, error) {
	c, err := newClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &R{c}, nil
}

// newClient connects to Vault and logs in.
func newClient(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	vc := api.DefaultConfig() // VAULT_ADDR, VAULT_CACERT, VAULT_SKIP_VERIFY, …
	if vc.Error != nil {
		return nil, fmt.Errorf("vaultstore: vault config: %w", vc.Error)
	}
	if cfg.Address != "" {
		vc.Address = cfg.Address
	}
	if cfg.CACert != "" {
		if err := vc.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACert}); err != nil {
			return nil, fmt.Errorf("vaultstore: vault CA %s: %w", cfg.CACert, err)
		}
	}
	vc.MaxRetries = 0 // the client retries itself, within the caller's deadline
	vc.Timeout = cfg.Timeout
	client, err := api.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vaultstore: vault client: %w", err)
	}
	auth, err := newAuthenticator(cfg.Auth)
	if err != nil {
		return nil, err
	}
	s := &Client{
		cfg:          cfg,
		client:       client,
		log:          cfg.Logger.Named("vault"),
		auth:         auth,
		tokenChanged: make(chan struct{}, 1),
	}
	if err := s.login(ctx); err != nil {
		return nil, err
	}
	// The first login is not a change Run must react to.
	select {
	case <-s.tokenChanged:
	default:
	}
	return s, nil
}

// withDefaults fills in the defaults and checks the config.
func (cfg Config) withDefaults() (Config, error) {
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	cfg.Mount = strings.Trim(cmp.Or(cfg.Mount, DefaultMount), "/")
	cfg.Prefix = strings.Trim(cmp.Or(cfg.Prefix, DefaultPrefix), "/")
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg, nil
}

// validPath reports whether p is slash-separated segments of
// [A-Za-z0-9_.-], none of them "." or "..".
func validPath(p string) bool {
	if p == "" {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				return false
			}
		}
	}
	return true
}

// Ping checks that Vault answers and the client's token is valid.
func (s *Client) Ping(ctx context.Context) error {
	return s.call(ctx, "lookup", "auth/token/lookup-self", func(ctx context.Context) error {
		_, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
		return err
	})
}

// target validates the tenant and normalises the alias.
func target(t secret.Tenant, alias string) (string, error) {
	verr := &secret.ValidationError{}
	if err := t.Validate(); err != nil {
		verr.Add("tenant", "%s", err.Error())
	}
	a, err := secret.NormalizeAlias(alias)
	if err != nil {
		verr.Add("alias", "%s", err.Error())
	}
	return a, verr.Err()
}
