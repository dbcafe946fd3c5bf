package main

import (
	"context"
	"errors"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// devStorage is the example storage with this command's users, client and
// key ring.
type devStorage struct {
	*storage.Storage
	users  *userStore
	keys   *keyRing
	client *publicClient
}

// GetClientByClientID returns the one public client.
func (s *devStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != s.client.id {
		return nil, errors.New("client not found")
	}
	return s.client, nil
}

// AuthorizeClientIDSecret refuses every secret: the client is public.
func (s *devStorage) AuthorizeClientIDSecret(context.Context, string, string) error {
	return errors.New("the client is public")
}

// SigningKey returns the current key of the ring.
func (s *devStorage) SigningKey(context.Context) (op.SigningKey, error) {
	return s.keys.current(), nil
}

// SignatureAlgorithms lists the algorithms of the ring.
func (s *devStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return s.keys.algorithms(), nil
}

// KeySet publishes every key of the ring.
func (s *devStorage) KeySet(context.Context) ([]op.Key, error) {
	return s.keys.published(), nil
}

// SetUserinfoFromRequest adds the user's claims to the ID token.
func (s *devStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	if u := s.users.byID[req.GetSubject()]; u != nil {
		for k, v := range u.Claims {
			ui.AppendClaims(k, v)
		}
	}
	return nil
}

// publicClient is a browser application: authorization code with PKCE, no
// secret.
type publicClient struct {
	id        string
	redirects []string
	logouts   []string
	idTTL     time.Duration
}

func (c *publicClient) GetID() string                       { return c.id }
func (c *publicClient) RedirectURIs() []string              { return c.redirects }
func (c *publicClient) PostLogoutRedirectURIs() []string    { return c.logouts }
func (c *publicClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeNative }
func (c *publicClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodNone }
func (c *publicClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *publicClient) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *publicClient) LoginURL(id string) string    { return "/login/username?authRequestID=" + id }
func (c *publicClient) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeBearer
}
func (c *publicClient) IDTokenLifetime() time.Duration { return c.idTTL }
func (c *publicClient) DevMode() bool                  { return false }
func (c *publicClient) RestrictAdditionalIdTokenScopes() func([]string) []string { //nolint:revive // the name of op.Client's method
	return func(s []string) []string { return s }
}
func (c *publicClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *publicClient) IsScopeAllowed(string) bool           { return false }
func (c *publicClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *publicClient) ClockSkew() time.Duration             { return 0 }
