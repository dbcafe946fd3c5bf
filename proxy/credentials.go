package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"

	"github.com/sidekey/sidekey/injector"
	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/errcode"
	"github.com/sidekey/sidekey/internal/secret"
)

// newTokenClient returns the client of token exchanges: dialled through the
// same guard as upstreams (no loopback, private or metadata address unless
// allowed), TLS verified against the same roots, bounded by the upstream
// timeout, and never following a redirect (a redirect could lead a key's
// assertion to a host its allowed_hosts do not name).
func newTokenClient(cfg *Config, g *guard) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return g.dial(ctx, addr, cfg.UpstreamTimeout)
			},
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.UpstreamRoots},
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     cfg.IdleTimeout,
		},
		Timeout: cfg.UpstreamTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Credentials returns the proxy's derived-credential minter, whose Evict the
// change feed calls when a secret is rotated or archived.
func (p *Proxy) Credentials() *credential.Minter { return p.creds }

// Derive implements injector.Deriver: a token filter's credential, minted
// and cached by the Minter for the request's tenant.
func (tr *tenantResolver) Derive(ctx context.Context, alias string, sec secret.Secret, filter string, args []string) (secret.Value, error) {
	if tr.creds == nil {
		return secret.Value{}, &injector.Error{Code: CodeInvalidPlaceholder, Detail: "derived credentials are not available"}
	}
	v, err := tr.creds.Token(ctx, credential.TokenRequest{
		Tenant: tr.t, Alias: alias, Version: sec.Version, Kind: credential.Kind(sec.Kind),
		Object: sec.Value.JSON, AllowedHosts: sec.AllowedHosts, Filter: filter, Args: args,
	})
	if err != nil {
		return secret.Value{}, credentialError(err)
	}
	return v, nil
}

var _ injector.Deriver = (*tenantResolver)(nil)

// credentialError maps a credential error to its code. The messages of
// package credential hold field names, kinds and statuses, never a value.
func credentialError(err error) *injector.Error {
	switch {
	case errors.Is(err, credential.ErrEndpointNotAllowed):
		return &injector.Error{Code: CodeHostNotAllowed, Detail: "the token endpoint is not in the secret's allowed_hosts", Err: err}
	case errors.Is(err, credential.ErrInvalidCredential):
		return &injector.Error{Code: errcode.InvalidCredential, Detail: err.Error(), Err: err}
	case errors.Is(err, credential.ErrArguments):
		return &injector.Error{Code: CodeInvalidPlaceholder, Detail: err.Error(), Err: err}
	case errors.Is(err, credential.ErrSigning):
		return &injector.Error{Code: errcode.SigningFailed, Detail: err.Error(), Err: err}
	case errors.Is(err, credential.ErrExchange):
		return &injector.Error{Code: errcode.CredentialExchangeFailed, Detail: err.Error(), Err: err}
	}
	return &injector.Error{Code: errcode.CredentialExchangeFailed, Err: err}
}
