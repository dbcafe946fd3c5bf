package adminapi

import (
	"slices"
	"strings"
)

// Default claim names (SPEC §5): the claims `sidekey token admin` writes.
const (
	DefaultClaimRole    = "role"
	DefaultClaimOrg     = "org"
	DefaultClaimDomains = "domains"
	DefaultClaimGroups  = "groups"
)

// ClaimMapping names the claims of a verified token that give the caller's
// role, org and domains. A name is looked up as a top-level claim first,
// then as a dotted path into nested objects ("realm_access.roles"). Empty
// names take the defaults.
type ClaimMapping struct {
	// Role names the role claim: a string, or a list in which org_admin
	// wins over domain_admin.
	Role string
	// Org names the org claim (a string).
	Org string
	// Domains names the domains claim: a list of strings, or one string.
	Domains string
	// Groups names the group claim that OrgAdminGroups and
	// DomainAdminGroups are matched against (a list of strings, or one).
	Groups string
	// OrgAdminGroups are group names that make the caller an org admin when
	// the role claim gives no role.
	OrgAdminGroups []string
	// DomainAdminGroups are group names that make the caller a domain admin
	// when the role claim and OrgAdminGroups give no role.
	DomainAdminGroups []string
}

func (m ClaimMapping) withDefaults() ClaimMapping {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&m.Role, DefaultClaimRole)
	def(&m.Org, DefaultClaimOrg)
	def(&m.Domains, DefaultClaimDomains)
	def(&m.Groups, DefaultClaimGroups)
	return m
}

// apply maps the verified claims raw to Claims. A caller with no role, no
// org or (as a domain admin) no domains is returned as it is: Allows then
// refuses it.
func (m ClaimMapping) apply(raw map[string]any) *Claims {
	c := &Claims{}
	c.Subject, _ = raw["sub"].(string)
	roles := stringsOf(lookupClaim(raw, m.Role))
	switch {
	case slices.Contains(roles, RoleOrgAdmin):
		c.Role = RoleOrgAdmin
	case slices.Contains(roles, RoleDomainAdmin):
		c.Role = RoleDomainAdmin
	default:
		groups := stringsOf(lookupClaim(raw, m.Groups))
		switch {
		case intersects(groups, m.OrgAdminGroups):
			c.Role = RoleOrgAdmin
		case intersects(groups, m.DomainAdminGroups):
			c.Role = RoleDomainAdmin
		}
	}
	c.Org, _ = lookupClaim(raw, m.Org).(string)
	c.Domains = stringsOf(lookupClaim(raw, m.Domains))
	return c
}

// lookupClaim returns the claim name of raw: a top-level claim of that
// name, else the value at its dotted path, else nil.
func lookupClaim(raw map[string]any, name string) any {
	if v, ok := raw[name]; ok {
		return v
	}
	return lookupPath(raw, strings.Split(name, "."))
}

// lookupPath follows keys down through nested JSON objects; it is nil where
// one is missing or a value on the way is not an object.
func lookupPath(v any, keys []string) any {
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = obj[k]; !ok {
			return nil
		}
	}
	return v
}

// stringsOf returns a string claim as a one-element list and the strings of
// a list claim; anything else is nil.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}

func intersects(a, b []string) bool {
	for _, s := range a {
		if slices.Contains(b, s) {
			return true
		}
	}
	return false
}
