package adminapi

import (
	"errors"
	"net/http"

	"github.com/sidekey/sidekey/internal/errcode"
)

// Sign-in modes of the web UI, answered by GET /v1/auth/config.
const (
	// SignInOIDC: the UI signs in with the provider (authorization code
	// with PKCE).
	SignInOIDC = "oidc"
	// SignInToken: the UI takes a pasted token (no provider to sign in
	// with).
	SignInToken = "token"
	// SignInUnconfigured: tokens come from a provider, but no client id is
	// configured for the UI.
	SignInUnconfigured = "unconfigured"
)

// authConfigBody is the answer of GET /v1/auth/config.
type authConfigBody struct {
	Mode                  string   `json:"mode"`
	Issuer                string   `json:"issuer,omitempty"`
	ClientID              string   `json:"client_id,omitempty"`
	Scopes                []string `json:"scopes,omitempty"`
	AuthorizationEndpoint string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string   `json:"token_endpoint,omitempty"`
	EndSessionEndpoint    string   `json:"end_session_endpoint,omitempty"`
}

// handleAuthConfig tells the web UI how to sign in. It needs no token and
// holds nothing secret: the issuer, the public client id and the provider's
// endpoints. With a provider that cannot be reached it is auth_unavailable.
func (s *Server) handleAuthConfig(w http.ResponseWriter, r *http.Request) {
	o := s.verifier.oidc
	if o == nil {
		s.writeJSON(w, http.StatusOK, authConfigBody{Mode: SignInToken})
		return
	}
	body := authConfigBody{Mode: SignInToken, Issuer: o.cfg.Issuer}
	if o.cfg.JWKSURL == "" {
		st, err := o.ready(r.Context())
		if err != nil {
			s.writeError(w, r, &apiError{Code: errcode.AuthUnavailable, Message: "the identity provider cannot be reached; retry later", cause: err})
			return
		}
		body.Mode = SignInUnconfigured
		if o.cfg.ClientID != "" {
			body.Mode = SignInOIDC
			body.ClientID = o.cfg.ClientID
			body.Scopes = o.cfg.scopes()
			body.AuthorizationEndpoint = st.endpoints.Authorization
			body.TokenEndpoint = st.endpoints.Token
			body.EndSessionEndpoint = st.endpoints.EndSession
		}
	}
	s.writeJSON(w, http.StatusOK, body)
}

// sessionBody is the answer of GET /v1/session.
type sessionBody struct {
	Subject string   `json:"sub"`
	Role    string   `json:"role"`
	Org     string   `json:"org"`
	Domains []string `json:"domains"`
}

// errNoRole is the cause of a session refused for lack of a role.
var errNoRole = errors.New("the token's claims give no admin role")

// handleSession answers who the caller is, as the API sees its token after
// the claim mapping: the UI lays itself out with it.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	c, err := s.verifier.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case c.Role != RoleOrgAdmin && c.Role != RoleDomainAdmin:
		s.writeError(w, r, &apiError{Code: errcode.Forbidden, Message: "your account has no Sidekey admin role (org_admin or domain_admin)", cause: errNoRole})
		return
	case c.Org == "":
		s.writeError(w, r, &apiError{Code: errcode.Forbidden, Message: "your account names no org", cause: errNoRole})
		return
	case c.Role == RoleDomainAdmin && len(c.Domains) == 0:
		s.writeError(w, r, &apiError{Code: errcode.Forbidden, Message: "your account is a domain admin of no domain", cause: errNoRole})
		return
	}
	domains := c.Domains
	if domains == nil {
		domains = []string{}
	}
	s.writeJSON(w, http.StatusOK, sessionBody{Subject: c.Subject, Role: c.Role, Org: c.Org, Domains: domains})
}

// AuthOrigins returns the origins the web UI calls during sign-in (the
// provider's token endpoint), for its Content-Security-Policy connect-src.
// It is empty until the provider has been discovered.
func (s *Server) AuthOrigins() []string {
	if s.verifier.oidc == nil {
		return nil
	}
	return s.verifier.oidc.origins()
}
