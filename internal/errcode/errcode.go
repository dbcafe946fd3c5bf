// Package errcode is the one registry of Sidekey's error codes: each code's
// HTTP status, the edges that answer with it (the proxy, SPEC §4; the admin
// API, SPEC §5) and what it means. The injector, the proxy and the admin API
// take their codes from here, and a test holds SPEC and the OpenAPI
// document to the same list.
package errcode

import "net/http"

// Code is an error code as sent on the wire: in the proxy's Sidekey-Error
// header and in both edges' JSON bodies {"error":{"code":…}}.
type Code string

// Edge is a set of the components that answer with a code.
type Edge uint8

// The edges.
const (
	Proxy Edge = 1 << iota // sidekey proxy (SPEC §4)
	Admin                  // sidekey admin (SPEC §5)
)

// The codes. Wire values never change.
const (
	// Proxy: tenant binding.
	ProxyAuthRequired Code = "proxy_auth_required"
	ProxyAuthInvalid  Code = "proxy_auth_invalid"
	// Proxy: where a request may go.
	HostNotAllowed            Code = "host_not_allowed"
	DestinationForbidden      Code = "destination_forbidden"
	PlainHTTPInjectionRefused Code = "plain_http_injection_refused"
	// Injection (the injector's codes).
	SecretNotFound             Code = "secret_not_found"
	FieldNotFound              Code = "field_not_found"
	InvalidPlaceholder         Code = "invalid_placeholder"
	UnsafeHeaderValue          Code = "unsafe_header_value"
	BodyTooLarge               Code = "body_too_large"
	UnsupportedContentEncoding Code = "unsupported_content_encoding"
	// Derived credentials (minted tokens and request signatures).
	CredentialExchangeFailed Code = "credential_exchange_failed" //nolint:gosec // an error code's name, not a credential
	InvalidCredential        Code = "invalid_credential"         //nolint:gosec // an error code's name, not a credential
	SigningFailed            Code = "signing_failed"
	// Proxy: the upstream exchange and the proxy's own limits.
	UpstreamUnreachable Code = "upstream_unreachable"
	UpstreamTimeout     Code = "upstream_timeout"
	HeadersTooLarge     Code = "headers_too_large"
	TooManyConnections  Code = "too_many_connections"
	// Both edges.
	InvalidRequest   Code = "invalid_request"
	StoreUnavailable Code = "store_unavailable"
	NotReady         Code = "not_ready"
	// Admin API.
	Unauthenticated      Code = "unauthenticated"
	Forbidden            Code = "forbidden"
	NotFound             Code = "not_found"
	MethodNotAllowed     Code = "method_not_allowed"
	AliasTaken           Code = "alias_taken"
	TypeLocked           Code = "type_locked"
	Conflict             Code = "conflict"
	UnsupportedMediaType Code = "unsupported_media_type"
	PayloadTooLarge      Code = "payload_too_large"
	AuthUnavailable      Code = "auth_unavailable"
	Internal             Code = "internal_error"
)

// Spec describes one code.
type Spec struct {
	Code    Code
	Status  int
	Edges   Edge
	Meaning string
}

// specs is the registry, in the order of SPEC's tables.
var specs = []Spec{
	{ProxyAuthRequired, http.StatusProxyAuthRequired, Proxy, "no Proxy-Authorization on the request or the CONNECT"},
	{ProxyAuthInvalid, http.StatusProxyAuthRequired, Proxy, "the tenant credential does not verify under any tenant key"},
	{HostNotAllowed, http.StatusForbidden, Proxy, "the secret's allowed_hosts do not match the request's real destination"},
	{DestinationForbidden, http.StatusForbidden, Proxy, "the destination resolves to a loopback, private, link-local or metadata address not allowed by --allow-upstream-cidr"},
	{PlainHTTPInjectionRefused, http.StatusForbidden, Proxy, "a secret would be sent over plain HTTP without --allow-plain-http-injection"},
	{SecretNotFound, http.StatusUnprocessableEntity, Proxy, "no active secret of the tenant has the alias"},
	{FieldNotFound, http.StatusUnprocessableEntity, Proxy, "the secret has no such field, or the field does not fit the type"},
	{InvalidPlaceholder, http.StatusUnprocessableEntity, Proxy, "a {{secrets.…}} placeholder does not parse, or its filter does not fit where it stands"},
	{UnsafeHeaderValue, http.StatusUnprocessableEntity, Proxy, "an injected header value would hold CR, LF, NUL or another control byte"},
	{BodyTooLarge, http.StatusRequestEntityTooLarge, Proxy, "the request body (as sent or decompressed) exceeds the limit"},
	{UnsupportedContentEncoding, http.StatusUnsupportedMediaType, Proxy, "a body with placeholders has a Content-Encoding other than identity or gzip"},
	{InvalidCredential, http.StatusUnprocessableEntity, Proxy, "a secret does not fit its credential kind (the message names the field), or a filter needs another kind"},
	{SigningFailed, http.StatusUnprocessableEntity, Proxy, "a Sidekey-Sign directive does not parse, names a secret of another kind, or lacks what the algorithm needs"},
	{CredentialExchangeFailed, http.StatusBadGateway, Proxy, "a token endpoint refused or failed (the message gives its status, never its body) and no unexpired token is cached"},
	{UpstreamUnreachable, http.StatusBadGateway, Proxy, "the upstream cannot be resolved, dialled or verified, or the exchange failed"},
	{UpstreamTimeout, http.StatusGatewayTimeout, Proxy, "the upstream did not answer in time"},
	{HeadersTooLarge, http.StatusRequestHeaderFieldsTooLarge, Proxy, "the request's header block exceeds the limit"},
	{TooManyConnections, http.StatusServiceUnavailable, Proxy, "the proxy holds --max-conns connections already"},
	{InvalidRequest, http.StatusBadRequest, Proxy | Admin, "the request is not well-formed (the admin API lists the fields at fault)"},
	{StoreUnavailable, http.StatusServiceUnavailable, Proxy | Admin, "Vault cannot be reached (and, in the proxy, the stale window is over)"},
	{NotReady, http.StatusServiceUnavailable, Proxy | Admin, "/readyz: the component is starting or draining, or its store does not answer"},
	{Unauthenticated, http.StatusUnauthorized, Admin, "no bearer token, or one that does not verify"},
	{Forbidden, http.StatusForbidden, Admin, "the token's role does not grant this org and domain"},
	{NotFound, http.StatusNotFound, Admin, "no active secret has the alias, or no such endpoint"},
	{MethodNotAllowed, http.StatusMethodNotAllowed, Admin, "the endpoint does not take this method"},
	{AliasTaken, http.StatusConflict, Admin, "an active secret of the domain already has the alias"},
	{TypeLocked, http.StatusConflict, Admin, "a rotate names another alias or type than the secret's"},
	{Conflict, http.StatusConflict, Admin, "the secret changed concurrently; retry"},
	{UnsupportedMediaType, http.StatusUnsupportedMediaType, Admin, "the body is not application/json"},
	{PayloadTooLarge, http.StatusRequestEntityTooLarge, Admin, "the body exceeds the limit"},
	{AuthUnavailable, http.StatusServiceUnavailable, Admin, "the OpenID Connect provider cannot be reached to discover it or to fetch a key the token needs"},
	{Internal, http.StatusInternalServerError, Admin, "an unexpected failure (logged with the request id)"},
}

var byCode = func() map[Code]Spec {
	m := make(map[Code]Spec, len(specs))
	for _, s := range specs {
		m[s.Code] = s
	}
	return m
}()

// Status is the code's HTTP status; 500 for a code not in the registry.
func (c Code) Status() int {
	if s, ok := byCode[c]; ok {
		return s.Status
	}
	return http.StatusInternalServerError
}

// Meaning is the code's one-line description; empty for an unknown code.
func (c Code) Meaning() string { return byCode[c].Meaning }

// Known reports whether c is in the registry.
func (c Code) Known() bool {
	_, ok := byCode[c]
	return ok
}

// Of returns the codes that edge answers with, in the registry's order.
func Of(edge Edge) []Spec {
	var out []Spec
	for _, s := range specs {
		if s.Edges&edge != 0 {
			out = append(out, s)
		}
	}
	return out
}
