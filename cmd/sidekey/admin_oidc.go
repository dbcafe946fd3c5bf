package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sidekey/sidekey/adminapi"
)

// oidcFlags are the flags of `sidekey admin` that trust an OpenID Connect
// provider, and the claim mapping (which every mode uses).
type oidcFlags struct {
	issuer          string
	caFile          string
	audience        string
	clientID        string
	scopes          stringList
	jwksURL         string
	keyRefresh      time.Duration
	refetchInterval time.Duration

	claimRole         string
	claimOrg          string
	claimDomains      string
	claimGroups       string
	orgAdminGroups    stringList
	domainAdminGroups stringList
}

func addOIDCFlags(fs *flag.FlagSet) *oidcFlags {
	f := &oidcFlags{}
	fs.StringVar(&f.issuer, "oidc-issuer", "", "OpenID Connect issuer URL to trust (discovery at /.well-known/openid-configuration); https, or http on loopback")
	fs.StringVar(&f.caFile, "oidc-ca-file", "", "PEM file of the CA of the provider's TLS certificate (default: the system's CAs)")
	fs.StringVar(&f.audience, "oidc-audience", "", "required audience (aud) of provider tokens (default --oidc-client-id)")
	fs.StringVar(&f.clientID, "oidc-client-id", "", "public client id of the web UI's sign-in (authorization code with PKCE)")
	fs.Var(&f.scopes, "oidc-scopes", "scopes the web UI requests (repeatable or comma-separated; default openid,profile,email)")
	fs.StringVar(&f.jwksURL, "jwks-url", "", "JWKS URL of a provider without discovery (needs --oidc-issuer for the iss check; the UI then takes pasted tokens)")
	fs.DurationVar(&f.keyRefresh, "oidc-key-refresh", adminapi.DefaultKeyRefresh, "how long fetched provider keys are used before the key set is fetched again")
	fs.DurationVar(&f.refetchInterval, "oidc-key-refetch-interval", adminapi.DefaultKeyRefetchInterval, "average interval allowed between key set fetches caused by unknown key ids (bursts of 3)")
	fs.StringVar(&f.claimRole, "claim-role", adminapi.DefaultClaimRole, "claim holding the role, org_admin or domain_admin (a dotted path reaches nested claims)")
	fs.StringVar(&f.claimOrg, "claim-org", adminapi.DefaultClaimOrg, "claim holding the org")
	fs.StringVar(&f.claimDomains, "claim-domains", adminapi.DefaultClaimDomains, "claim holding a domain admin's domains")
	fs.StringVar(&f.claimGroups, "claim-groups", adminapi.DefaultClaimGroups, "claim holding the groups matched by --group-org-admin and --group-domain-admin")
	fs.Var(&f.orgAdminGroups, "group-org-admin", "group whose members are org admins when the role claim gives no role (repeatable or comma-separated)")
	fs.Var(&f.domainAdminGroups, "group-domain-admin", "group whose members are domain admins when the role claim gives no role (repeatable or comma-separated)")
	return f
}

// providerFlagsWithoutIssuer names the provider flags that are set, which
// need --oidc-issuer.
func (f *oidcFlags) providerFlagsWithoutIssuer() []string {
	var set []string
	add := func(name string, on bool) {
		if on {
			set = append(set, "--"+name)
		}
	}
	add("oidc-ca-file", f.caFile != "")
	add("oidc-audience", f.audience != "")
	add("oidc-client-id", f.clientID != "")
	add("oidc-scopes", len(f.scopes) > 0)
	add("jwks-url", f.jwksURL != "")
	return set
}

// claimMapping returns the claim mapping of the flags.
func (f *oidcFlags) claimMapping() adminapi.ClaimMapping {
	return adminapi.ClaimMapping{
		Role:              f.claimRole,
		Org:               f.claimOrg,
		Domains:           f.claimDomains,
		Groups:            f.claimGroups,
		OrgAdminGroups:    f.orgAdminGroups,
		DomainAdminGroups: f.domainAdminGroups,
	}
}

// config returns the OIDC configuration of the flags (with --oidc-issuer
// set), reading the CA file.
func (f *oidcFlags) config() (*adminapi.OIDCConfig, error) {
	c := &adminapi.OIDCConfig{
		Issuer:             f.issuer,
		JWKSURL:            f.jwksURL,
		Audience:           f.audience,
		ClientID:           f.clientID,
		Scopes:             f.scopes,
		KeyRefresh:         f.keyRefresh,
		KeyRefetchInterval: f.refetchInterval,
	}
	if f.keyRefresh <= 0 {
		return nil, errors.New("--oidc-key-refresh must be positive")
	}
	if f.refetchInterval <= 0 {
		return nil, errors.New("--oidc-key-refetch-interval must be positive")
	}
	if f.audience == "" && f.clientID == "" {
		return nil, errors.New("--oidc-issuer needs --oidc-audience or --oidc-client-id")
	}
	if f.caFile != "" {
		b, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--oidc-ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--oidc-ca-file: %s holds no PEM certificate", f.caFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}
