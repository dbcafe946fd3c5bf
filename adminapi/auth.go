package adminapi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"

	"github.com/sidekey/sidekey/internal/errcode"
)

// Roles of an admin token (SPEC §5).
const (
	// RoleOrgAdmin manages every domain of its org.
	RoleOrgAdmin = "org_admin"
	// RoleDomainAdmin manages the domains listed in its token.
	RoleDomainAdmin = "domain_admin"
)

// MinHS256KeyBytes is the shortest HS256 key accepted (RFC 7518 §3.2: a key
// of at least the hash size).
const MinHS256KeyBytes = 32

// AuthConfig configures the verification of bearer tokens. Exactly one of
// HS256Key, JWKS and OIDC is set; the token's alg must match the key's type.
type AuthConfig struct {
	// HS256Key is the shared HMAC key (see LoadHS256Key).
	HS256Key []byte
	// JWKS is a JSON Web Key Set of RS256 (RSA, 2048+ bits) or ES256
	// (P-256) public keys. A token names its key with "kid"; with a single
	// key in the set, "kid" may be absent.
	JWKS []byte
	// OIDC trusts an OpenID Connect provider: its discovered (or given) JWKS
	// endpoint, fetched and cached with rotation.
	OIDC *OIDCConfig
	// Issuer, when set, must equal the token's "iss" (HS256Key and JWKS;
	// OIDC has its own).
	Issuer string
	// Audience, when set, must be one of the token's "aud" (HS256Key and
	// JWKS; OIDC has its own).
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat.
	Leeway time.Duration
	// Claims names the claims that give the caller's role, org and domains.
	Claims ClaimMapping
}

// Validate checks the configuration and parses the keys, as New does.
func (c AuthConfig) Validate() error {
	_, err := newVerifier(c, nil, nil)
	return err
}

// Claims are the claims of an admin token.
type Claims struct {
	jwt.RegisteredClaims
	// Role is RoleOrgAdmin or RoleDomainAdmin.
	Role string `json:"role"`
	// Org is the org the token manages.
	Org string `json:"org"`
	// Domains are the domains a domain admin manages.
	Domains []string `json:"domains,omitempty"`
}

// Allows reports whether the claims grant management of tenant t.
func (c *Claims) Allows(t secret.Tenant) bool {
	if c == nil || c.Org == "" || c.Org != t.Org {
		return false
	}
	switch c.Role {
	case RoleOrgAdmin:
		return true
	case RoleDomainAdmin:
		return slices.Contains(c.Domains, t.Domain)
	default:
		return false
	}
}

// LoadHS256Key reads an HS256 key file: its bytes with surrounding
// whitespace trimmed, at least MinHS256KeyBytes long. `sidekey admin` and
// `sidekey token admin` both read the key this way.
func LoadHS256Key(path string) ([]byte, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the path is the operator's flag.
	if err != nil {
		return nil, fmt.Errorf("read HS256 key: %w", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) < MinHS256KeyBytes {
		return nil, fmt.Errorf("HS256 key in %s is %d bytes, want at least %d", path, len(key), MinHS256KeyBytes)
	}
	return key, nil
}

// MintHS256 signs claims with an HS256 key. It is for development tokens
// (`sidekey token admin`) and tests.
func MintHS256(key []byte, c Claims) (string, error) {
	if len(key) < MinHS256KeyBytes {
		return "", fmt.Errorf("adminapi: HS256 key is %d bytes, want at least %d", len(key), MinHS256KeyBytes)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("adminapi: sign token: %w", err)
	}
	return s, nil
}

// verifier checks bearer tokens.
type verifier struct {
	parser  *jwt.Parser
	keyfunc jwt.Keyfunc
	oidc    *oidcVerifier
	claims  ClaimMapping
}

// newVerifier checks cfg and returns its verifier; m, when set, counts the
// key set fetches of OIDC, and log, when set, hears of its discovery.
func newVerifier(cfg AuthConfig, m *metrics, log *zap.Logger) (*verifier, error) {
	var (
		algs    []string
		keyfunc jwt.Keyfunc
	)
	modes := 0
	for _, set := range []bool{len(cfg.HS256Key) > 0, len(cfg.JWKS) > 0, cfg.OIDC != nil} {
		if set {
			modes++
		}
	}
	if cfg.Leeway < 0 {
		return nil, errors.New("adminapi: negative JWT leeway")
	}
	switch {
	case modes > 1:
		return nil, errors.New("adminapi: set one of an HS256 key, a JWKS and OIDC, not several")
	case cfg.OIDC != nil:
		if cfg.Issuer != "" || cfg.Audience != "" {
			return nil, errors.New("adminapi: with OIDC, the issuer and audience are set in OIDCConfig")
		}
		o, err := newOIDCVerifier(*cfg.OIDC, cfg.Leeway)
		if err != nil {
			return nil, err
		}
		if log != nil {
			o.log = log
		}
		if m != nil {
			o.jwks.fetches = func(outcome string) { m.keyFetches.WithLabelValues(outcome).Inc() }
		}
		return &verifier{oidc: o, claims: cfg.Claims.withDefaults()}, nil
	case len(cfg.HS256Key) > 0:
		if len(cfg.HS256Key) < MinHS256KeyBytes {
			return nil, fmt.Errorf("adminapi: HS256 key is %d bytes, want at least %d", len(cfg.HS256Key), MinHS256KeyBytes)
		}
		key := bytes.Clone(cfg.HS256Key)
		algs = []string{jwt.SigningMethodHS256.Alg()}
		keyfunc = func(*jwt.Token) (any, error) { return key, nil }
	case len(cfg.JWKS) > 0:
		set, err := parseJWKS(cfg.JWKS)
		if err != nil {
			return nil, err
		}
		algs = set.algs()
		keyfunc = set.keyfunc
	default:
		return nil, errors.New("adminapi: no token verification configured: set an HS256 key, a JWKS or OIDC")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &verifier{parser: jwt.NewParser(opts...), keyfunc: keyfunc, claims: cfg.Claims.withDefaults()}, nil
}

// errUnauthenticated is the base of every authentication failure.
var errUnauthenticated = errors.New("unauthenticated")

// authenticate returns the verified claims of the request's bearer token.
// Its errors are *apiError with code unauthenticated and a message that
// names the reason, never the token, or auth_unavailable when the identity
// provider cannot be reached.
func (v *verifier) authenticate(r *http.Request) (*Claims, error) {
	fail := func(msg string, cause error) error {
		return &apiError{Code: errcode.Unauthenticated, Message: msg, cause: errors.Join(errUnauthenticated, cause)}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, fail("missing bearer token", nil)
	}
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, fail("the Authorization header must be \"Bearer <token>\"", nil)
	}
	var verified map[string]any
	if v.oidc != nil {
		m, err := v.oidc.verify(r.Context(), strings.TrimSpace(raw))
		if errors.Is(err, errAuthUnavailable) {
			return nil, &apiError{Code: errcode.AuthUnavailable, Message: "the identity provider cannot be reached; retry later", cause: err}
		}
		if err != nil {
			return nil, fail(oidcErrorMessage(err), err)
		}
		verified = m
	} else {
		mc := jwt.MapClaims{}
		if _, err := v.parser.ParseWithClaims(strings.TrimSpace(raw), mc, v.keyfunc); err != nil {
			return nil, fail(tokenErrorMessage(err), err)
		}
		verified = mc
	}
	claims := v.claims.apply(verified)
	if claims.Subject == "" {
		return nil, fail("token has no sub", nil)
	}
	return claims, nil
}

// tokenErrors are the words, safe to send, for the parser's errors; the
// first that the error matches wins.
var tokenErrors = []struct {
	err     error
	message string
}{
	{jwt.ErrTokenExpired, "token expired"},
	{jwt.ErrTokenNotValidYet, "token not valid yet"},
	{jwt.ErrTokenUsedBeforeIssued, "token not valid yet"},
	{jwt.ErrTokenRequiredClaimMissing, "token lacks a required claim (exp)"},
	{jwt.ErrTokenInvalidAudience, "token audience not accepted"},
	{jwt.ErrTokenInvalidIssuer, "token issuer not accepted"},
	{jwt.ErrTokenSignatureInvalid, "token signature invalid"},
	{jwt.ErrTokenUnverifiable, "token cannot be verified with the configured keys"},
	{jwt.ErrTokenMalformed, "token malformed"},
}

// tokenErrorMessage names why a token was refused, in words safe to send.
func tokenErrorMessage(err error) string {
	for _, te := range tokenErrors {
		if errors.Is(err, te.err) {
			return te.message
		}
	}
	return "token invalid"
}
