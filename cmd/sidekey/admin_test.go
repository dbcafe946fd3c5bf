package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sidekey/sidekey/adminapi"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const devKey = "a-development-key-of-more-than-32-bytes\n"

// TestAdminBadConfigExits: a bad flag or key file ends the command with a
// configuration exit code and one line on stderr, before Vault is dialled or any
// listener opens.
func TestAdminBadConfigExits(t *testing.T) {
	key := writeFile(t, "key", devKey)
	short := writeFile(t, "short", "short\n")
	jwks := writeFile(t, "jwks", `{"keys":[]}`)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined"},
		{"bad duration", []string{"--jwt-leeway", "soon"}, nil, "jwt-leeway"},
		{"no key", nil, nil, "set --jwt-hs256-key-file, --jwt-jwks-file or --oidc-issuer"},
		{"missing key file", []string{"--jwt-hs256-key-file", filepath.Join(t.TempDir(), "absent")}, nil, "--jwt-hs256-key-file"},
		{"short key", []string{"--jwt-hs256-key-file", short}, nil, "at least 32"},
		{"empty jwks", []string{"--jwt-jwks-file", jwks}, nil, "no keys"},
		{"both keys", []string{"--jwt-hs256-key-file", key, "--jwt-jwks-file", jwks}, nil, "not several"},
		{"key and issuer", []string{"--jwt-hs256-key-file", key, "--oidc-issuer", "https://id.example.com"}, nil, "not several"},
		{"http issuer", []string{"--oidc-issuer", "http://id.example.com", "--oidc-client-id", "c"}, nil, "--oidc-issuer: OIDC issuer \"http://id.example.com\": http is only allowed on loopback"},
		{"issuer without audience", []string{"--oidc-issuer", "https://id.example.com"}, nil, "--oidc-audience or --oidc-client-id"},
		{"client id without issuer", []string{"--jwt-hs256-key-file", key, "--oidc-client-id", "c", "--jwks-url", "https://id.example.com/keys"}, nil, "--oidc-client-id, --jwks-url need --oidc-issuer"},
		{"jwt audience with issuer", []string{"--oidc-issuer", "https://id.example.com", "--oidc-client-id", "c", "--jwt-audience", "a"}, nil, "--oidc-audience"},
		{"unreadable CA file", []string{"--oidc-issuer", "https://id.example.com", "--oidc-client-id", "c", "--oidc-ca-file", "/nonexistent/ca.pem"}, nil, "--oidc-ca-file"},
		{"CA file without PEM", []string{"--oidc-issuer", "https://id.example.com", "--oidc-client-id", "c", "--oidc-ca-file", key}, nil, "holds no PEM certificate"},
		{"bad refetch interval", []string{"--oidc-issuer", "https://id.example.com", "--oidc-client-id", "c", "--oidc-key-refetch-interval", "0s"}, nil, "--oidc-key-refetch-interval"},
		{"bad max value", []string{"--jwt-hs256-key-file", key, "--max-value-bytes", "-1"}, nil, "--max-value-bytes: -1 must not be negative"},
		{"bad vault flags", []string{"--jwt-hs256-key-file", key, "--vault-timeout", "-1s", "--vault-auth", "ldap"}, nil,
			`--vault-timeout: -1s must not be negative; --vault-auth: "ldap" must be token, approle or kubernetes`},
		{"bad log level", []string{"--jwt-hs256-key-file", key, "--log-level", "loud"}, nil, "--log-level"},
		{"bad origin", []string{"--jwt-hs256-key-file", key, "--cors-origins", "console.example.com/app"}, nil, "--cors-origins"},
		{"all errors at once", []string{"--max-value-bytes", "-1", "--shutdown-timeout", "0"}, nil,
			"set --jwt-hs256-key-file, --jwt-jwks-file or --oidc-issuer; --max-value-bytes: -1 must not be negative; --shutdown-timeout must be positive"},
		{"bad env", nil, map[string]string{"SIDEKEY_JWT_LEEWAY": "later"}, "SIDEKEY_JWT_LEEWAY"},
		{"missing key file from env", nil, map[string]string{"SIDEKEY_JWT_HS256_KEY_FILE": "/nonexistent/key"}, "--jwt-hs256-key-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			// (The flag package prints the usage after a parse error.)
			// The listen address is taken by nobody: the command must fail
			// on its configuration, not on a listener.
			args := append([]string{"--listen", "127.0.0.1:1", "--metrics-listen", ""}, tt.args...)
			code := run(context.Background(), append([]string{"admin"}, args...), &stdout, &stderr)
			if code != exitConfig {
				t.Fatalf("exit %d, want %d (configuration error)", code, exitConfig)
			}
			msg := stderr.String()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q does not contain %q", msg, tt.want)
			}
			if n := strings.Count(strings.TrimRight(msg, "\n"), "\n"); n != 0 && !strings.Contains(tt.want, "flag") && tt.name != "bad duration" {
				t.Errorf("stderr has %d lines, want one: %q", n+1, msg)
			}
		})
	}
}

func TestAdminHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"admin", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{"--listen", "127.0.0.1:8081", "--metrics-listen", "127.0.0.1:9091",
		"--jwt-hs256-key-file", "--jwt-jwks-file", "--jwt-issuer", "--jwt-audience", "--jwt-leeway",
		"--max-value-bytes", "65536", "--cors-origins", "--shutdown-timeout", "--log-level", "--vault-addr",
		"--oidc-issuer", "--oidc-ca-file", "--oidc-audience", "--oidc-client-id", "--oidc-scopes", "--jwks-url",
		"--claim-role", "--claim-org", "--claim-domains", "--claim-groups", "--group-org-admin", "--group-domain-admin",
		"SIDEKEY_JWT_HS256_KEY_FILE", "SIDEKEY_OIDC_ISSUER"} {
		if !strings.Contains(stderr.String(), f) {
			t.Errorf("--help lacks %s", f)
		}
	}
}

func TestTokenAdmin(t *testing.T) {
	keyFile := writeFile(t, "key", devKey)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"token", "admin", "--key-file", keyFile, "--role", "domain_admin",
		"--org", "acme", "--domain", "billing", "--domain", "alerts,news", "--ttl", "10m", "--sub", "dana",
		"--issuer", "iss-1", "--audience", "aud-1"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	raw := strings.TrimSpace(stdout.String())
	var c adminapi.Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) {
		return []byte(strings.TrimSpace(devKey)), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuer("iss-1"), jwt.WithAudience("aud-1"))
	if err != nil {
		t.Fatalf("the minted token does not verify: %v", err)
	}
	if c.Role != "domain_admin" || c.Org != "acme" || c.Subject != "dana" ||
		strings.Join(c.Domains, ",") != "billing,alerts,news" {
		t.Errorf("claims = %+v", c)
	}
	if ttl := time.Until(c.ExpiresAt.Time); ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("exp in %v, want about 10m", ttl)
	}
	// The admin API accepts it.
	if err := (adminapi.AuthConfig{HS256Key: []byte(strings.TrimSpace(devKey)), Issuer: "iss-1", Audience: "aud-1"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTokenAdminErrors(t *testing.T) {
	keyFile := writeFile(t, "key", devKey)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no key file", []string{"--role", "org_admin", "--org", "acme"}, "--key-file is required"},
		{"bad role", []string{"--key-file", keyFile, "--role", "root", "--org", "acme"}, "--role must be"},
		{"domain admin without domain", []string{"--key-file", keyFile, "--role", "domain_admin", "--org", "acme"}, "at least one --domain"},
		{"org admin with domain", []string{"--key-file", keyFile, "--role", "org_admin", "--org", "acme", "--domain", "x"}, "only for"},
		{"bad org", []string{"--key-file", keyFile, "--role", "org_admin", "--org", "Acme Inc"}, "--org"},
		{"bad ttl", []string{"--key-file", keyFile, "--role", "org_admin", "--org", "acme", "--ttl", "-1h"}, "--ttl"},
		{"unreadable key", []string{"--key-file", "/nonexistent", "--role", "org_admin", "--org", "acme"}, "--key-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"token", "admin"}, tt.args...), &stdout, &stderr)
			if code != exitConfig || stdout.Len() != 0 {
				t.Fatalf("exit %d (want %d), stdout %d bytes", code, exitConfig, stdout.Len())
			}
			if !strings.Contains(stderr.String(), tt.want) || strings.Count(strings.TrimRight(stderr.String(), "\n"), "\n") != 0 {
				t.Errorf("stderr %q, want one line with %q", stderr.String(), tt.want)
			}
		})
	}
}
