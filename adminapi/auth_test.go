package adminapi

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sidekey/sidekey/internal/secret"
)

func TestClaimsAllows(t *testing.T) {
	ax := secret.Tenant{Org: "a", Domain: "x"}
	tests := []struct {
		name string
		c    *Claims
		want bool
	}{
		{"org admin of the org", &Claims{Role: RoleOrgAdmin, Org: "a"}, true},
		{"org admin of another org", &Claims{Role: RoleOrgAdmin, Org: "b"}, false},
		{"domain admin of the domain", &Claims{Role: RoleDomainAdmin, Org: "a", Domains: []string{"w", "x"}}, true},
		{"domain admin of other domains", &Claims{Role: RoleDomainAdmin, Org: "a", Domains: []string{"y"}}, false},
		{"domain admin of the domain in another org", &Claims{Role: RoleDomainAdmin, Org: "b", Domains: []string{"x"}}, false},
		{"unknown role", &Claims{Role: "superuser", Org: "a", Domains: []string{"x"}}, false},
		{"no role", &Claims{Org: "a"}, false},
		{"no org", &Claims{Role: RoleOrgAdmin}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Allows(ax); got != tt.want {
				t.Errorf("Allows = %v, want %v", got, tt.want)
			}
		})
	}
}

// jwksFor returns a JWKS document with the public keys under their kids.
func jwksFor(t *testing.T, keys map[string]crypto.PublicKey) []byte {
	t.Helper()
	var set jwkset.JWKSMarshal
	for kid, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signWith(t *testing.T, m jwt.SigningMethod, kid string, key any, c Claims) string {
	t.Helper()
	if c.ExpiresAt == nil {
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	}
	if c.Subject == "" {
		c.Subject = "carol"
	}
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newRSAKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newECKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestJWKSVerification(t *testing.T) {
	rsaKey := newRSAKey(t, 2048)
	ecKey, otherEC := newECKey(t, elliptic.P256()), newECKey(t, elliptic.P256())
	jwks := jwksFor(t, map[string]crypto.PublicKey{"rsa-1": &rsaKey.PublicKey, "ec-1": &ecKey.PublicKey})
	h := newHarness(t, newFakeStore(), func(c *Config) {
		c.Auth = AuthConfig{JWKS: jwks, Leeway: time.Second}
	})
	claims := Claims{Role: RoleOrgAdmin, Org: orgA}
	// An HS256 token whose key is the RSA public key's bytes: the classic
	// alg-confusion attack.
	pubDER := rsaKey.N.Bytes()
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"RS256 by kid", signWith(t, jwt.SigningMethodRS256, "rsa-1", rsaKey, claims), 200},
		{"ES256 by kid", signWith(t, jwt.SigningMethodES256, "ec-1", ecKey, claims), 200},
		{"ES256 under the RSA kid", signWith(t, jwt.SigningMethodES256, "rsa-1", ecKey, claims), 401},
		{"RS384 refused", signWith(t, jwt.SigningMethodRS384, "rsa-1", rsaKey, claims), 401},
		{"HS256 with the public key as secret", signWith(t, jwt.SigningMethodHS256, "rsa-1", pubDER, claims), 401},
		{"unknown kid", signWith(t, jwt.SigningMethodES256, "ec-2", otherEC, claims), 401},
		{"no kid with two keys", signWith(t, jwt.SigningMethodES256, "", ecKey, claims), 401},
		{"other key under a known kid", signWith(t, jwt.SigningMethodES256, "ec-1", otherEC, claims), 401},
		{"alg none", noneToken(t, claims), 401},
		{"no exp", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, Claims{Role: RoleOrgAdmin, Org: orgA,
				RegisteredClaims: jwt.RegisteredClaims{Subject: "carol"}})
			tok.Header["kid"] = "ec-1"
			s, _ := tok.SignedString(ecKey)
			return s
		}(), 401},
		{"no sub", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, Claims{Role: RoleOrgAdmin, Org: orgA,
				RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
			tok.Header["kid"] = "ec-1"
			s, _ := tok.SignedString(ecKey)
			return s
		}(), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("GET", basePath+"/secrets", tt.token, nil)
			if r.status != tt.want {
				t.Errorf("status %d (%s), want %d", r.status, r.body, tt.want)
			}
			if tt.want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}

	// A single-key set accepts a token without kid.
	single := newHarness(t, newFakeStore(), func(c *Config) {
		c.Auth = AuthConfig{JWKS: jwksFor(t, map[string]crypto.PublicKey{"only": &ecKey.PublicKey})}
	})
	if r := single.do("GET", basePath+"/secrets", signWith(t, jwt.SigningMethodES256, "", ecKey, claims), nil); r.status != 200 {
		t.Errorf("single-key JWKS, no kid: %d", r.status)
	}
}

func noneToken(t *testing.T, c Claims) string {
	t.Helper()
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	c.Subject = "mallory"
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHS256Tokens(t *testing.T) {
	h := newHarness(t, newFakeStore()) // iss and aud required, leeway 30s
	now := time.Now()
	tests := []struct {
		name  string
		c     Claims
		key   []byte
		want  int
		msgIn string
	}{
		{"valid", Claims{Role: RoleOrgAdmin, Org: orgA}, testKey, 200, ""},
		{"expired within leeway", Claims{Role: RoleOrgAdmin, Org: orgA, RegisteredClaims: jwt.RegisteredClaims{
			ExpiresAt: jwt.NewNumericDate(now.Add(-10 * time.Second))}}, testKey, 200, ""},
		{"expired beyond leeway", Claims{Role: RoleOrgAdmin, Org: orgA, RegisteredClaims: jwt.RegisteredClaims{
			ExpiresAt: jwt.NewNumericDate(now.Add(-2 * time.Minute))}}, testKey, 401, "expired"},
		{"not valid yet", Claims{Role: RoleOrgAdmin, Org: orgA, RegisteredClaims: jwt.RegisteredClaims{
			NotBefore: jwt.NewNumericDate(now.Add(10 * time.Minute))}}, testKey, 401, "not valid yet"},
		{"wrong issuer", Claims{Role: RoleOrgAdmin, Org: orgA, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "https://evil.test"}}, testKey, 401, "issuer"},
		{"wrong audience", Claims{Role: RoleOrgAdmin, Org: orgA, RegisteredClaims: jwt.RegisteredClaims{
			Audience: jwt.ClaimStrings{"x"}}}, testKey, 401, "audience"},
		{"one of several audiences", Claims{Role: RoleOrgAdmin, Org: orgA, RegisteredClaims: jwt.RegisteredClaims{
			Audience: jwt.ClaimStrings{"x", testAud}}}, testKey, 200, ""},
		{"other key", Claims{Role: RoleOrgAdmin, Org: orgA}, otherKey, 401, "signature"},
		{"unknown role", Claims{Role: "root", Org: orgA}, testKey, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("GET", basePath+"/secrets", mint(t, tt.key, tt.c), nil)
			if r.status != tt.want {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tt.want)
			}
			if tt.msgIn != "" && !strings.Contains(string(r.body), tt.msgIn) {
				t.Errorf("body %s does not say %q", r.body, tt.msgIn)
			}
		})
	}
	for _, hdr := range []string{"Basic abc", "Bearer", "Bearer ", "token"} {
		r := h.doHeaders("GET", basePath+"/secrets", "", nil, map[string]string{"Authorization": hdr})
		if r.status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d", hdr, r.status)
		}
	}
}

func TestAuthConfigErrors(t *testing.T) {
	rsaSmall, p384 := newRSAKey(t, 1024), newECKey(t, elliptic.P384())
	tests := []struct {
		name string
		cfg  AuthConfig
		want string
	}{
		{"none", AuthConfig{}, "no token verification configured"},
		{"both", AuthConfig{HS256Key: testKey, JWKS: []byte(`{}`)}, "not several"},
		{"short key", AuthConfig{HS256Key: []byte("short")}, "at least 32"},
		{"jwks not json", AuthConfig{JWKS: []byte(`nope`)}, "not JSON"},
		{"jwks empty", AuthConfig{JWKS: []byte(`{"keys":[]}`)}, "no keys"},
		{"rsa 1024", AuthConfig{JWKS: jwksFor(t, map[string]crypto.PublicKey{"k": &rsaSmall.PublicKey})}, "2048"},
		{"p-384", AuthConfig{JWKS: jwksFor(t, map[string]crypto.PublicKey{"k": &p384.PublicKey})}, "P-256"},
		{"negative leeway", AuthConfig{HS256Key: testKey, Leeway: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error with %q", err, tt.want)
			}
		})
	}
	if _, err := New(Config{Auth: AuthConfig{HS256Key: testKey}}); err == nil {
		t.Error("New without a store succeeded")
	}
}

func TestLoadHS256Key(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, append(testKey, '\n', '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := LoadHS256Key(good)
	if err != nil || string(key) != string(testKey) {
		t.Errorf("LoadHS256Key = %d bytes, %v; want the trimmed key", len(key), err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHS256Key(short); err == nil {
		t.Error("short key accepted")
	}
	if _, err := LoadHS256Key(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}
