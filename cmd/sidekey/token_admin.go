package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sidekey/sidekey/adminapi"
	"github.com/sidekey/sidekey/internal/secret"
)

// runTokenAdmin mints an HS256 admin token for development and prints it.
func runTokenAdmin(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("token admin", "token admin --key-file F --role R --org O [--domain D ...] [--ttl T]", stderr)
	keyFile := fs.String("key-file", "", "HS256 key file (the admin API's --jwt-hs256-key-file)")
	role := fs.String("role", "", "org_admin or domain_admin")
	org := fs.String("org", "", "org id")
	var domains stringList
	fs.Var(&domains, "domain", "domain id a domain_admin manages (repeatable or comma-separated)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	sub := fs.String("sub", "sidekey-dev", "subject (the actor named in audit lines)")
	issuer := fs.String("issuer", "", "iss claim (match the admin API's --jwt-issuer)")
	audience := fs.String("audience", "", "aud claim (match the admin API's --jwt-audience)")
	if err := parseFlags(fs, args); err != nil {
		return flagExit(stderr, "token admin", err)
	}
	var errs []error
	if *keyFile == "" {
		errs = append(errs, errors.New("--key-file is required"))
	}
	switch *role {
	case adminapi.RoleOrgAdmin:
		if len(domains) > 0 {
			errs = append(errs, errors.New("--domain is only for --role domain_admin (an org_admin manages every domain)"))
		}
	case adminapi.RoleDomainAdmin:
		if len(domains) == 0 {
			errs = append(errs, errors.New("--role domain_admin needs at least one --domain"))
		}
	default:
		errs = append(errs, fmt.Errorf("--role must be %s or %s", adminapi.RoleOrgAdmin, adminapi.RoleDomainAdmin))
	}
	if !secret.ValidID(*org) {
		errs = append(errs, errors.New("--org must be 1-64 characters of a-z, 0-9, _ and -"))
	}
	for _, d := range domains {
		if !secret.ValidID(d) {
			errs = append(errs, fmt.Errorf("--domain %q must be 1-64 characters of a-z, 0-9, _ and -", d))
		}
	}
	if *ttl <= 0 {
		errs = append(errs, errors.New("--ttl must be positive"))
	}
	if *sub == "" {
		errs = append(errs, errors.New("--sub must not be empty"))
	}
	if len(errs) > 0 {
		return flagExit(stderr, "token admin", errors.Join(errs...))
	}
	key, err := adminapi.LoadHS256Key(*keyFile)
	if err != nil {
		return flagExit(stderr, "token admin", fmt.Errorf("--key-file: %w", err))
	}
	now := time.Now()
	c := adminapi.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   *sub,
			Issuer:    *issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(*ttl)),
		},
		Role: *role,
		Org:  *org,
	}
	if *audience != "" {
		c.Audience = jwt.ClaimStrings{*audience}
	}
	if *role == adminapi.RoleDomainAdmin {
		c.Domains = domains
	}
	tok, err := adminapi.MintHS256(key, c)
	if err != nil {
		return failExit(stderr, "token admin", err)
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
