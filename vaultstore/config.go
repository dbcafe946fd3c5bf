package vaultstore

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The configuration convention (shared by every Sidekey component): a zero
// field means "use the default", a negative one is an error, and Validate
// names the offending field.

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

// Validate reports the first invalid field of cfg. Zero fields are valid
// (they take the defaults); negative durations are not.
func (cfg Config) Validate() error {
	if cfg.Timeout < 0 {
		return fieldError("Timeout", cfg.Timeout, "must not be negative")
	}
	if m := strings.Trim(cfg.Mount, "/"); m != "" && !validPath(m) {
		return fieldError("Mount", cfg.Mount, "must be /-separated segments of [A-Za-z0-9_.-]")
	}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" && !validPath(p) {
		return fieldError("Prefix", cfg.Prefix, "must be /-separated segments of [A-Za-z0-9_.-]")
	}
	switch cfg.Auth.Method {
	case "", MethodToken, MethodAppRole, MethodKubernetes:
	default:
		return fieldError("Auth.Method", cfg.Auth.Method, "must be token, approle or kubernetes")
	}
	return nil
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

// Validate reports the first invalid field of cfg: zero fields take the
// defaults, negative ones are refused.
func (cfg CacheConfig) Validate() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"TTL", cfg.TTL},
		{"NegativeTTL", cfg.NegativeTTL},
		{"MaxStale", cfg.MaxStale},
		{"FeedInterval", cfg.FeedInterval},
	} {
		if f.d < 0 {
			return fieldError("Cache."+f.name, f.d, "must not be negative")
		}
	}
	if cfg.Size < 0 {
		return fieldError("Cache.Size", cfg.Size, "must not be negative")
	}
	return nil
}

// errInvalidConfig is wrapped by every Validate error.
var errInvalidConfig = errors.New("invalid configuration")

func fieldError(field string, v any, why string) error {
	return fmt.Errorf("vaultstore: %w: %s %v: %s", errInvalidConfig, field, v, why)
}
