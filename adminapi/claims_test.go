package adminapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestClaimMapping(t *testing.T) {
	groups := ClaimMapping{OrgAdminGroups: []string{"/platform/org-admins"}, DomainAdminGroups: []string{"domain-admins"}}
	cases := []struct {
		name    string
		m       ClaimMapping
		raw     map[string]any
		role    string
		org     string
		domains []string
	}{
		{"defaults are the dev token's claims", ClaimMapping{},
			map[string]any{"sub": "a", "role": "domain_admin", "org": "acme", "domains": []any{"shop", "blog"}},
			RoleDomainAdmin, "acme", []string{"shop", "blog"}},
		{"unknown role gives none", ClaimMapping{}, map[string]any{"role": "admin", "org": "acme"}, "", "acme", nil},
		{"role list: org_admin wins", ClaimMapping{Role: "realm_access.roles"},
			map[string]any{"realm_access": map[string]any{"roles": []any{"offline", "domain_admin", "org_admin"}}, "org": "acme"},
			RoleOrgAdmin, "acme", nil},
		{"top-level name with dots first", ClaimMapping{Org: "https://example.com/org"},
			map[string]any{"https://example.com/org": "acme", "role": "org_admin"}, RoleOrgAdmin, "acme", nil},
		{"org admin group", groups, map[string]any{"groups": []any{"x", "/platform/org-admins"}, "org": "acme"}, RoleOrgAdmin, "acme", nil},
		{"domain admin group", groups, map[string]any{"groups": []any{"domain-admins"}, "org": "acme", "domains": "shop"},
			RoleDomainAdmin, "acme", []string{"shop"}},
		{"both groups: org admin", groups, map[string]any{"groups": []any{"domain-admins", "/platform/org-admins"}}, RoleOrgAdmin, "", nil},
		{"role claim before groups", groups, map[string]any{"role": "domain_admin", "groups": []any{"/platform/org-admins"}}, RoleDomainAdmin, "", nil},
		{"group name must match exactly", groups, map[string]any{"groups": []any{"org-admins", "Domain-Admins"}}, "", "", nil},
		{"custom groups claim", ClaimMapping{Groups: "roles", DomainAdminGroups: []string{"editor"}},
			map[string]any{"roles": "editor", "groups": []any{"org_admin"}}, RoleDomainAdmin, "", nil},
		{"org of another type is none", ClaimMapping{}, map[string]any{"role": "org_admin", "org": 7}, RoleOrgAdmin, "", nil},
		{"non-string domains skipped", ClaimMapping{}, map[string]any{"domains": []any{"a", 3, "", "b"}}, "", "", []string{"a", "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.m.withDefaults().apply(c.raw)
			if got.Role != c.role || got.Org != c.org || !slices.Equal(got.Domains, c.domains) {
				t.Fatalf("got role %q org %q domains %v, want %q %q %v", got.Role, got.Org, got.Domains, c.role, c.org, c.domains)
			}
		})
	}
}

func TestOIDCConfigErrors(t *testing.T) {
	ok := OIDCConfig{Issuer: "https://id.example.com/realms/x", ClientID: "sidekey"}
	cases := []struct {
		name string
		auth AuthConfig
		want string
	}{
		{"http issuer off loopback", AuthConfig{OIDC: &OIDCConfig{Issuer: "http://id.example.com", ClientID: "c"}}, "http is only allowed on loopback"},
		{"no issuer", AuthConfig{OIDC: &OIDCConfig{ClientID: "c"}}, "needs an issuer"},
		{"no audience", AuthConfig{OIDC: &OIDCConfig{Issuer: "https://id.example.com"}}, "audience or a client id"},
		{"bad JWKS URL", AuthConfig{OIDC: &OIDCConfig{Issuer: "https://id.example.com", Audience: "a", JWKSURL: "ftp://x/keys"}}, "want https"},
		{"scopes without openid", AuthConfig{OIDC: &OIDCConfig{Issuer: "https://id.example.com", Audience: "a", Scopes: []string{"email"}}}, "openid"},
		{"OIDC and a key", AuthConfig{OIDC: &ok, HS256Key: testKey}, "not several"},
		{"OIDC with file-mode issuer", AuthConfig{OIDC: &ok, Issuer: "x"}, "set in OIDCConfig"},
		{"query in issuer", AuthConfig{OIDC: &OIDCConfig{Issuer: "https://id.example.com/?a=b", ClientID: "c"}}, "without query"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.auth.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want an error with %q", err, c.want)
			}
		})
	}
	for _, good := range []string{"https://id.example.com", "http://127.0.0.1:5556/dex", "http://[::1]:8080", "http://localhost:8080"} {
		if err := (AuthConfig{OIDC: &OIDCConfig{Issuer: good, ClientID: "c"}}).Validate(); err != nil {
			t.Errorf("issuer %s: %v", good, err)
		}
	}
}

// TestClaimMappingWithKeyFile: the mapping applies to HS256 tokens too, and
// /v1/session answers what the API read.
func TestClaimMappingWithKeyFile(t *testing.T) {
	h := newHarness(t, newFakeStore(), func(c *Config) {
		c.Auth.Claims = ClaimMapping{Org: "tenant", DomainAdminGroups: []string{"editors"}}
	})
	tok := mintMap(t, jwt.MapClaims{"sub": "eve", "iss": testIss, "aud": testAud, "exp": time.Now().Add(time.Hour).Unix(),
		"tenant": orgA, "groups": []string{"editors"}, "domains": []string{domX}})
	r := h.do("GET", "/v1/session", tok, nil)
	var s sessionBody
	if err := json.Unmarshal(r.body, &s); err != nil || r.status != 200 {
		t.Fatalf("session: %d %s", r.status, r.body)
	}
	if s.Role != RoleDomainAdmin || s.Org != orgA || !slices.Equal(s.Domains, []string{domX}) || s.Subject != "eve" {
		t.Fatalf("session %+v", s)
	}
	if r := h.do("GET", basePath+"/secrets", tok, nil); r.status != 200 {
		t.Fatalf("list: %d", r.status)
	}
	if r := h.do("GET", "/v1/orgs/"+orgA+"/domains/"+domY+"/secrets", tok, nil); r.status != 403 {
		t.Fatalf("other domain: %d", r.status)
	}
}

func mintMap(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
