package vaultstore

import (
	"strings"

	"github.com/sidekey/sidekey/internal/confcheck"
)

// The configuration convention (shared by every Sidekey component): a zero
// field means "use the default", a negative one is an error, and Validate
// names every offending field (internal/confcheck).

// DefaultConfig returns the Client configuration with every default filled
// in. Command-line flags bind onto it, so the library holds the only copy of
// each default. Address, CACert and the token stay empty: they come from the
// standard VAULT_* environment variables.
func DefaultConfig() Config {
	return Config{
		Mount:   DefaultMount,
		Prefix:  DefaultPrefix,
		Timeout: DefaultTimeout,
		Auth: AuthConfig{
			Method:  MethodToken,
			JWTFile: DefaultKubernetesJWTFile,
		},
	}
}

// Validate reports every invalid field of cfg, each as a
// *confcheck.FieldError naming the field ("Timeout", "Auth.Method"),
// joined. Zero fields are valid (they take the defaults); negative
// durations are not.
func (cfg Config) Validate() error {
	c := confcheck.New("vaultstore")
	confcheck.NotNegative(c, "Timeout", cfg.Timeout)
	for _, f := range []struct{ name, v string }{{"Mount", cfg.Mount}, {"Prefix", cfg.Prefix}} {
		if f.v != "" && !validPath(strings.Trim(f.v, "/")) {
			c.Fail(f.name, "%q must be /-separated segments of [A-Za-z0-9_.-]", f.v)
		}
	}
	switch cfg.Auth.Method {
	case "", MethodToken, MethodAppRole, MethodKubernetes:
	default:
		c.Fail("Auth.Method", "%q must be token, approle or kubernetes", cfg.Auth.Method)
	}
	return c.Err()
}

// DefaultCacheConfig returns the cache configuration with every default
// filled in; command-line flags bind onto it.
func DefaultCacheConfig() CacheConfig {
	return CacheConfig{
		TTL:          DefaultCacheTTL,
		Size:         DefaultCacheSize,
		NegativeTTL:  DefaultCacheNegativeTTL,
		MaxStale:     DefaultCacheMaxStale,
		FeedInterval: DefaultCacheFeedInterval,
	}
}

// Validate reports every invalid field of cfg, each as a
// *confcheck.FieldError naming the field ("Cache.TTL"), joined: zero
// fields take the defaults, negative ones are refused.
func (cfg CacheConfig) Validate() error {
	c := confcheck.New("vaultstore")
	confcheck.NotNegative(c, "Cache.TTL", cfg.TTL)
	confcheck.NotNegative(c, "Cache.Size", cfg.Size)
	confcheck.NotNegative(c, "Cache.NegativeTTL", cfg.NegativeTTL)
	confcheck.NotNegative(c, "Cache.MaxStale", cfg.MaxStale)
	confcheck.NotNegative(c, "Cache.FeedInterval", cfg.FeedInterval)
	return c.Err()
}
