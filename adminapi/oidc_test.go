package adminapi

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sidekey/sidekey/internal/errcode"
	"github.com/sidekey/sidekey/internal/oidctest"
)

// The tests of this file run against a real OpenID Connect provider
// (bin/oidcdev: zitadel/oidc's example provider) started per test; its
// tokens come from its login form and token endpoint.

const (
	oidcPassword      = "correct horse battery staple"
	groupOrgAdmins    = "sidekey-org-admins"
	groupDomainAdmins = "sidekey-domain-admins"
)

// oidcUsers: roles come from groups, except rita's, from the role claim;
// the org is nested under "tenant" (mapped with a dotted path).
func oidcUsers() []oidctest.User {
	u := func(id string, claims map[string]any) oidctest.User {
		return oidctest.User{ID: "id-" + id, Username: id, Password: oidcPassword, Email: id + "@example.com", Claims: claims}
	}
	return []oidctest.User{
		u("ada", map[string]any{"groups": []string{"staff", groupOrgAdmins}, "tenant": map[string]any{"org": orgA}}),
		u("bob", map[string]any{"groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgB}}),
		u("dora", map[string]any{"groups": []string{groupDomainAdmins}, "tenant": map[string]any{"org": orgA}, "domains": []string{domX}}),
		u("dan", map[string]any{"groups": []string{groupDomainAdmins}, "tenant": map[string]any{"org": orgA}, "domains": []string{domY}}),
		u("rita", map[string]any{"role": RoleOrgAdmin, "tenant": map[string]any{"org": orgA}}),
		u("nora", map[string]any{"groups": []string{"staff"}, "tenant": map[string]any{"org": orgA}}),
	}
}

var oidcMapping = ClaimMapping{
	Org:               "tenant.org",
	OrgAdminGroups:    []string{groupOrgAdmins},
	DomainAdminGroups: []string{groupDomainAdmins},
}

// oidcHarness is an admin API (on the fake store) trusting p.
func oidcHarness(t *testing.T, p *oidctest.Provider, mod ...func(*OIDCConfig)) *harness {
	t.Helper()
	oc := &OIDCConfig{
		Issuer:             p.Issuer,
		ClientID:           p.ClientID,
		KeyRefetchInterval: time.Millisecond,
		DiscoveryRetry:     time.Millisecond,
	}
	for _, m := range mod {
		m(oc)
	}
	return newHarness(t, newFakeStore(), func(c *Config) {
		c.Auth = AuthConfig{OIDC: oc, Claims: oidcMapping}
	})
}

// wantList checks that GET …/secrets with tok answers want; what names
// the check in the failure.
func (h *harness) wantList(t *testing.T, tok string, want int, what string) {
	t.Helper()
	if r := h.do("GET", basePath+"/secrets", tok, nil); r.status != want {
		t.Fatalf("%s: %d %s, want %d", what, r.status, r.body, want)
	}
}

func TestOIDCDiscoveryAndTokens(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: oidcUsers()})
	h := oidcHarness(t, p)

	t.Run("auth config from discovery", func(t *testing.T) {
		r := h.do("GET", "/v1/auth/config", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		var cfg authConfigBody
		if err := json.Unmarshal(r.body, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Mode != SignInOIDC || cfg.Issuer != p.Issuer || cfg.ClientID != p.ClientID ||
			!strings.HasPrefix(cfg.AuthorizationEndpoint, p.Issuer+"/") || !strings.HasPrefix(cfg.TokenEndpoint, p.Issuer+"/") ||
			!strings.HasPrefix(cfg.EndSessionEndpoint, p.Issuer+"/") || strings.Join(cfg.Scopes, " ") != "openid profile email" {
			t.Fatalf("auth config %+v", cfg)
		}
		var raw map[string]any
		_ = json.Unmarshal(r.body, &raw)
		for k := range raw {
			if !slices.Contains([]string{"mode", "issuer", "client_id", "scopes", "authorization_endpoint", "token_endpoint", "end_session_endpoint"}, k) {
				t.Errorf("auth config answers %q, which the AuthConfig schema does not document", k)
			}
		}
		if got := h.api.AuthOrigins(); len(got) != 1 || got[0] != p.Issuer {
			t.Fatalf("AuthOrigins = %v, want [%s]", got, p.Issuer)
		}
	})

	ada := p.Login(t, "ada", oidcPassword)
	t.Run("a token from the provider is accepted", func(t *testing.T) {
		h.wantList(t, ada, http.StatusOK, "list")
		r := h.do("GET", "/v1/session", ada, nil)
		var s sessionBody
		if err := json.Unmarshal(r.body, &s); err != nil || r.status != http.StatusOK {
			t.Fatalf("session: %d %s", r.status, r.body)
		}
		if s.Subject != "id-ada" || s.Role != RoleOrgAdmin || s.Org != orgA {
			t.Fatalf("session %+v", s)
		}
	})

	t.Run("role claim and group mapping", func(t *testing.T) {
		for _, c := range []struct{ user, role string }{{"rita", RoleOrgAdmin}, {"dora", RoleDomainAdmin}} {
			r := h.do("GET", "/v1/session", p.Login(t, c.user, oidcPassword), nil)
			var s sessionBody
			if err := json.Unmarshal(r.body, &s); err != nil || r.status != http.StatusOK || s.Role != c.role {
				t.Errorf("%s: %d %s, want role %s", c.user, r.status, r.body, c.role)
			}
		}
	})

	t.Run("a user with no role is told so", func(t *testing.T) {
		nora := p.Login(t, "nora", oidcPassword)
		r := h.do("GET", "/v1/session", nora, nil)
		if r.status != http.StatusForbidden || r.errorCode() != errcode.Forbidden || !strings.Contains(string(r.body), "no Sidekey admin role") {
			t.Fatalf("session: %d %s", r.status, r.body)
		}
		h.wantList(t, nora, http.StatusForbidden, "list")
	})

	pubPEM := publicPEM(t, p)
	refused := []struct {
		name, token, message string
	}{
		{"wrong audience", p.Forge(t, jwt.MapClaims{"aud": []string{"another-client"}, "groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}}), "token audience not accepted"},
		{"wrong issuer", p.Forge(t, jwt.MapClaims{"iss": "http://127.0.0.1:1", "groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}}), "token issuer not accepted"},
		{"expired", p.Forge(t, jwt.MapClaims{"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix(), "groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}}), "token expired"},
		{"alg none", unsignedToken(t, p), "token malformed, or signed with an algorithm that is not accepted"},
		{"HS256 signed with the public key", hmacWith(t, p, pubPEM), "token malformed, or signed with an algorithm that is not accepted"},
		{"HS256 signed with the public key's DER", hmacWith(t, p, pemBody(t, pubPEM)), "token malformed, or signed with an algorithm that is not accepted"},
		{"payload changed after signing", swapPayload(t, ada, jwt.MapClaims{"sub": "id-ada", "iss": p.Issuer, "aud": p.ClientID, "exp": time.Now().Add(time.Hour).Unix(), "tenant": map[string]any{"org": orgB}, "groups": []string{groupOrgAdmins}}), "token signature invalid, or signed by a key the provider does not publish"},
		{"garbage", "not.a.token", "token malformed, or signed with an algorithm that is not accepted"},
	}
	for _, c := range refused {
		t.Run("refused: "+c.name, func(t *testing.T) {
			r := h.do("GET", basePath+"/secrets", c.token, nil)
			if r.status != http.StatusUnauthorized || r.errorCode() != errcode.Unauthenticated {
				t.Fatalf("status %d code %q, want 401 unauthenticated", r.status, r.errorCode())
			}
			var body errorBody
			_ = json.Unmarshal(r.body, &body)
			if body.Error.Message != c.message {
				t.Fatalf("message %q, want %q", body.Error.Message, c.message)
			}
		})
	}
	// A forged token with every check right passes: the refusals above are
	// each for their one reason.
	t.Run("the forging itself is sound", func(t *testing.T) {
		tok := p.Forge(t, jwt.MapClaims{"groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}})
		h.wantList(t, tok, http.StatusOK, "a sound forged token")
	})
	h.checkNoToken(t, ada)
}

// checkNoToken fails when a token appears in the logs.
func (h *harness) checkNoToken(t *testing.T, tokens ...string) {
	t.Helper()
	logs := h.logs.String()
	for _, tok := range tokens {
		if strings.Contains(logs, tok) || strings.Contains(logs, strings.Split(tok, ".")[2]) {
			t.Error("a token is in the logs")
		}
	}
}

// TestOIDCConcurrentFirstRequests: requests that arrive while discovery
// runs wait for it instead of failing.
func TestOIDCConcurrentFirstRequests(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: oidcUsers()})
	h := oidcHarness(t, p)
	ada := p.Login(t, "ada", oidcPassword)
	const n = 16
	statuses := make(chan int, n)
	for range n {
		go func() { statuses <- h.do("GET", basePath+"/secrets", ada, nil).status }()
	}
	for range n {
		if s := <-statuses; s != http.StatusOK {
			t.Errorf("a first request got %d", s)
		}
	}
}

func TestOIDCKeyRotation(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: oidcUsers()})
	h := oidcHarness(t, p)
	first := p.Login(t, "ada", oidcPassword)
	h.wantList(t, first, http.StatusOK, "first key")
	p.Rotate(t, "RS256")
	second := p.Login(t, "ada", oidcPassword)
	if kidOf(t, second) == kidOf(t, first) {
		t.Fatal("the provider did not rotate its key")
	}
	h.wantList(t, second, http.StatusOK, "rotated key, without a restart")
	h.wantList(t, first, http.StatusOK, "previous key, still published")

	// The provider stops publishing the first key, and signs with a new
	// ES256 key: its first token makes the API refetch the set, which drops
	// the first key.
	p.Retire(t)
	p.Rotate(t, "ES256")
	third := p.Login(t, "ada", oidcPassword)
	if alg := headerOf(t, third)["alg"]; alg != "ES256" {
		t.Fatalf("third token alg %v", alg)
	}
	h.wantList(t, third, http.StatusOK, "ES256 key")
	h.wantList(t, second, http.StatusOK, "second key, still published")
	if r := h.do("GET", basePath+"/secrets", first, nil); r.status != http.StatusUnauthorized || r.errorCode() != errcode.Unauthenticated {
		t.Fatalf("a key the provider no longer publishes still verifies: %d %s", r.status, r.body)
	}
	if got := testutil.ToFloat64(h.api.metrics.keyFetches.WithLabelValues("fetched")); got < 3 {
		t.Fatalf("key set fetched %v times, want 3 or more", got)
	}
}

func TestOIDCKeyRefreshDropsRetiredKeys(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: oidcUsers()})
	// Every verification uses a fresh copy of the key set.
	h := oidcHarness(t, p, func(c *OIDCConfig) { c.KeyRefresh = time.Nanosecond })
	first := p.Login(t, "ada", oidcPassword)
	h.wantList(t, first, http.StatusOK, "first key")
	p.Rotate(t, "RS256")
	p.Retire(t)
	// No token of the new key has been seen: the refresh alone drops the
	// retired key.
	h.wantList(t, first, http.StatusUnauthorized, "retired key after a refresh")
}

func TestOIDCUnknownKIDRefetchIsRateLimited(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: oidcUsers()})
	h := oidcHarness(t, p, func(c *OIDCConfig) { c.KeyRefetchInterval = time.Hour })
	ada := p.Login(t, "ada", oidcPassword)
	h.wantList(t, ada, http.StatusOK, "valid token")
	const forged = 20
	for i := range forged {
		tok := p.Forge(t, jwt.MapClaims{"groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}})
		tok = withKID(t, p, tok, fmt.Sprintf("unknown-%d", i))
		if r := h.do("GET", basePath+"/secrets", tok, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("unknown kid %d: %d %s", i, r.status, r.body)
		}
	}
	fetched := testutil.ToFloat64(h.api.metrics.keyFetches.WithLabelValues("fetched"))
	limited := testutil.ToFloat64(h.api.metrics.keyFetches.WithLabelValues("limited"))
	// go-oidc may answer a request with the result of a fetch that has just
	// finished (it frees its in-flight fetch after waking the waiters), so
	// not every unknown kid reaches the transport: the limiter must have
	// refused some, and the fetches stay within the burst.
	if fetched > keyRefetchBurst || limited == 0 {
		t.Fatalf("key set fetched %v times and limited %v times for %d unknown kids; want at most %d fetches", fetched, limited, forged, keyRefetchBurst)
	}
	// Known keys still verify from the cache.
	h.wantList(t, ada, http.StatusOK, "valid token after the flood")
}

func TestOIDCProviderDownAtStart(t *testing.T) {
	p := oidctest.New(t, oidctest.Options{Users: oidcUsers()})
	h := oidcHarness(t, p)
	forged := p.Forge(t, jwt.MapClaims{"groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}})
	for _, path := range []string{basePath + "/secrets", "/v1/session", "/v1/auth/config"} {
		r := h.do("GET", path, forged, nil)
		if r.status != http.StatusServiceUnavailable || r.errorCode() != errcode.AuthUnavailable {
			t.Fatalf("%s with the provider down: %d %s", path, r.status, r.body)
		}
	}
	if r := h.do("GET", "/healthz", "", nil); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}

	p.Start(t)
	ada := p.Login(t, "ada", oidcPassword)
	// Discovery is retried at most once per DiscoveryRetry (1ms here): a
	// request within that window still gets the last failure, so a few
	// tries are allowed.
	var r response
	for range 100 {
		if r = h.do("GET", basePath+"/secrets", ada, nil); r.status != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.status != http.StatusOK {
		t.Fatalf("after the provider came back: %d %s", r.status, r.body)
	}

	// Down again: keys already fetched keep verifying; a token whose key
	// must be fetched is auth_unavailable, not unauthenticated.
	p.Stop(t)
	h.wantList(t, ada, http.StatusOK, "cached key with the provider down")
	tok := withKID(t, p, forged, "a-new-key")
	if r := h.do("GET", basePath+"/secrets", tok, nil); r.status != http.StatusServiceUnavailable || r.errorCode() != errcode.AuthUnavailable {
		t.Fatalf("unknown kid with the provider down: %d %s", r.status, r.body)
	}
}

// TestOIDCWithoutDiscovery: with JWKSURL the keys come from that URL and
// the UI takes pasted tokens.
func TestOIDCWithoutDiscovery(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: oidcUsers()})
	resp, err := http.Get(p.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	err = json.NewDecoder(resp.Body).Decode(&meta)
	_ = resp.Body.Close()
	if err != nil || meta.JWKS == "" {
		t.Fatalf("discovery document: %v", err)
	}
	h := oidcHarness(t, p, func(c *OIDCConfig) { c.JWKSURL = meta.JWKS })
	r := h.do("GET", "/v1/auth/config", "", nil)
	var cfg authConfigBody
	if err := json.Unmarshal(r.body, &cfg); err != nil || r.status != http.StatusOK || cfg.Mode != SignInToken || cfg.Issuer != p.Issuer || cfg.AuthorizationEndpoint != "" {
		t.Fatalf("auth config: %d %s", r.status, r.body)
	}
	h.wantList(t, p.Login(t, "ada", oidcPassword), http.StatusOK, "provider token")
	wrongIss := p.Forge(t, jwt.MapClaims{"iss": "http://127.0.0.1:1", "groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}})
	h.wantList(t, wrongIss, http.StatusUnauthorized, "another issuer")
}

// TestOIDCPrivateCA: a provider on https with a certificate of a private
// CA is trusted with RootCAs, and unreachable (auth_unavailable) without.
func TestOIDCPrivateCA(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: oidcUsers(), TLS: true})
	if !strings.HasPrefix(p.Issuer, "https://") {
		t.Fatalf("issuer %s", p.Issuer)
	}
	ada := p.Login(t, "ada", oidcPassword)
	trusting := oidcHarness(t, p, func(c *OIDCConfig) { c.RootCAs = p.RootCAs })
	if r := trusting.do("GET", basePath+"/secrets", ada, nil); r.status != http.StatusOK {
		t.Fatalf("with the CA: %d %s", r.status, r.body)
	}
	system := oidcHarness(t, p)
	r := system.do("GET", basePath+"/secrets", ada, nil)
	if r.status != http.StatusServiceUnavailable || r.errorCode() != errcode.AuthUnavailable {
		t.Fatalf("without the CA: %d %s", r.status, r.body)
	}
	if !strings.Contains(system.logs.String(), "certificate") {
		t.Error("the log does not say the certificate was not trusted")
	}
	var warned, discovered bool
	for _, l := range system.logs.lines(t, "oidc") {
		warned = warned || (l["level"] == "warn" && l["issuer"] == p.Issuer)
	}
	for _, l := range trusting.logs.lines(t, "oidc") {
		discovered = discovered || (l["msg"] == "identity provider discovered" && l["issuer"] == p.Issuer && l["sign_in"] == true)
	}
	if !warned || !discovered {
		t.Errorf("logs: unavailable warned %v, discovery logged %v", warned, discovered)
	}
}

// TestOIDCRBACMatrix is the RBAC matrix with tokens from the provider:
// org and domain admins by group membership.
func TestOIDCRBACMatrix(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{Users: oidcUsers()})
	h := oidcHarness(t, p)
	login := func(user string) func(t *testing.T) string {
		return func(t *testing.T) string { return p.Login(t, user, oidcPassword) }
	}
	adminClaims := jwt.MapClaims{"groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}}
	callers := []caller{
		{"no token", func(*testing.T) string { return "" }, false, http.StatusUnauthorized},
		{"expired", func(t *testing.T) string {
			return p.Forge(t, jwt.MapClaims{"groups": adminClaims["groups"], "tenant": adminClaims["tenant"],
				"iat": time.Now().Add(-time.Hour).Unix(), "exp": time.Now().Add(-5 * time.Minute).Unix()})
		}, false, http.StatusUnauthorized},
		{"bad signature", func(t *testing.T) string {
			return swapPayload(t, p.Login(t, "bob", oidcPassword), jwt.MapClaims{"iss": p.Issuer, "aud": p.ClientID, "sub": "id-bob",
				"exp": time.Now().Add(time.Hour).Unix(), "groups": adminClaims["groups"], "tenant": adminClaims["tenant"]})
		}, false, http.StatusUnauthorized},
		{"wrong audience", func(t *testing.T) string {
			return p.Forge(t, jwt.MapClaims{"aud": []string{"another-service"}, "groups": adminClaims["groups"], "tenant": adminClaims["tenant"]})
		}, false, http.StatusUnauthorized},
		{"org admin A", login("ada"), true, 0},
		{"org admin B", login("bob"), false, http.StatusForbidden},
		{"domain admin X", login("dora"), true, 0},
		{"domain admin Y", login("dan"), false, http.StatusForbidden},
		{"no role", login("nora"), false, http.StatusForbidden},
	}
	runRBACMatrixWith(t, h, callers, p.Login(t, "rita", oidcPassword))
}

// --- token surgery for the forged cases

func segments(t *testing.T, tok string) []string {
	t.Helper()
	s := strings.Split(tok, ".")
	if len(s) != 3 {
		t.Fatalf("token has %d segments", len(s))
	}
	return s
}

func headerOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(segments(t, tok)[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	kid, _ := headerOf(t, tok)["kid"].(string)
	return kid
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// unsignedToken is an alg "none" token with valid claims and the
// provider's kid.
func unsignedToken(t *testing.T, p *oidctest.Provider) string {
	t.Helper()
	claims := jwt.MapClaims{"iss": p.Issuer, "aud": p.ClientID, "sub": "mallory", "exp": time.Now().Add(time.Hour).Unix(),
		"groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}}
	return encodeSegment(t, map[string]any{"alg": "none", "kid": p.KeyID}) + "." + encodeSegment(t, claims) + "."
}

// hmacWith signs valid claims with HS256 using key (the provider's public
// key): the algorithm-confusion attack.
func hmacWith(t *testing.T, p *oidctest.Provider, key []byte) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": p.Issuer, "aud": p.ClientID, "sub": "mallory",
		"exp": time.Now().Add(time.Hour).Unix(), "groups": []string{groupOrgAdmins}, "tenant": map[string]any{"org": orgA}})
	tok.Header["kid"] = p.KeyID
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publicPEM(t *testing.T, p *oidctest.Provider) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&p.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func pemBody(t *testing.T, b []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(b)
	return blk.Bytes
}

// swapPayload keeps tok's header and signature and replaces its claims.
func swapPayload(t *testing.T, tok string, claims jwt.MapClaims) string {
	t.Helper()
	s := segments(t, tok)
	return s[0] + "." + encodeSegment(t, claims) + "." + s[2]
}

// withKID re-signs tok (a Forge token) with the provider's key under
// another kid.
func withKID(t *testing.T, p *oidctest.Provider, tok, kid string) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	nt := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	nt.Header["kid"] = kid
	out, err := nt.SignedString(p.Key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
