package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"os"

	"github.com/valyala/fasthttp"

	"github.com/sidekey/sidekey/injector"
	"github.com/sidekey/sidekey/internal/secret"
)

// Code is an error code the proxy answers with (SPEC §4), sent in the
// Sidekey-Error header and the JSON body.
type Code string

// The codes of SPEC §4, plus three for requests that are not well-formed
// proxy requests (invalid_request, headers_too_large, too_many_connections).
const (
	CodeProxyAuthRequired         Code = "proxy_auth_required"
	CodeProxyAuthInvalid          Code = "proxy_auth_invalid"
	CodeHostNotAllowed            Code = "host_not_allowed"
	CodeDestinationForbidden      Code = "destination_forbidden"
	CodePlainHTTPInjectionRefused Code = "plain_http_injection_refused"
	CodeSecretNotFound            Code = "secret_not_found"
	CodeFieldNotFound             Code = "field_not_found"
	CodeInvalidPlaceholder        Code = "invalid_placeholder"
	CodeUnsafeHeaderValue         Code = "unsafe_header_value"
	CodeBodyTooLarge              Code = "body_too_large"
	CodeUnsupportedEncoding       Code = "unsupported_content_encoding"
	CodeUpstreamUnreachable       Code = "upstream_unreachable"
	CodeStoreUnavailable          Code = "store_unavailable"
	CodeUpstreamTimeout           Code = "upstream_timeout"
	CodeInvalidRequest            Code = "invalid_request"
	CodeHeadersTooLarge           Code = "headers_too_large"
	CodeTooManyConnections        Code = "too_many_connections"
)

// Status returns the HTTP status of the code.
func (c Code) Status() int {
	switch c {
	case CodeProxyAuthRequired, CodeProxyAuthInvalid:
		return fasthttp.StatusProxyAuthRequired
	case CodeHostNotAllowed, CodeDestinationForbidden, CodePlainHTTPInjectionRefused:
		return fasthttp.StatusForbidden
	case CodeSecretNotFound, CodeFieldNotFound, CodeInvalidPlaceholder, CodeUnsafeHeaderValue:
		return fasthttp.StatusUnprocessableEntity
	case CodeBodyTooLarge:
		return fasthttp.StatusRequestEntityTooLarge
	case CodeUnsupportedEncoding:
		return fasthttp.StatusUnsupportedMediaType
	case CodeUpstreamUnreachable:
		return fasthttp.StatusBadGateway
	case CodeStoreUnavailable, CodeTooManyConnections:
		return fasthttp.StatusServiceUnavailable
	case CodeUpstreamTimeout:
		return fasthttp.StatusGatewayTimeout
	case CodeHeadersTooLarge:
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	default:
		return fasthttp.StatusBadRequest
	}
}

// proxyError is a failure with its code and a message safe to show: it
// names aliases and hosts, never a value.
type proxyError struct {
	code Code
	msg  string
	err  error
}

func (e *proxyError) Error() string {
	if e.err != nil {
		return string(e.code) + ": " + e.msg + ": " + e.err.Error()
	}
	return string(e.code) + ": " + e.msg
}

func (e *proxyError) Unwrap() error { return e.err }

func newError(code Code, msg string) *proxyError { return &proxyError{code: code, msg: msg} }

// classify maps any error of the request path to a code and a message.
func classify(err error) (Code, string) {
	var pe *proxyError
	if errors.As(err, &pe) {
		return pe.code, pe.msg
	}
	var ie *injector.Error
	if errors.As(err, &ie) {
		return Code(ie.Code), ie.Error()
	}
	switch {
	case errors.Is(err, secret.ErrNotFound):
		return CodeSecretNotFound, "secret not found"
	case errors.Is(err, secret.ErrUnavailable):
		return CodeStoreUnavailable, "the secret store is unavailable"
	}
	return CodeUpstreamUnreachable, "upstream request failed"
}

// upstreamError maps an error of the upstream exchange with host.
func upstreamError(host string, err error) *proxyError {
	var fe *forbiddenError
	if errors.As(err, &fe) {
		return &proxyError{code: CodeDestinationForbidden, msg: fe.Error(), err: err}
	}
	var ne net.Error
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return &proxyError{code: CodeUpstreamTimeout, msg: "upstream " + host + " did not answer in time", err: err}
	}
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) || errors.As(err, &ve) {
		return &proxyError{code: CodeUpstreamUnreachable, msg: "upstream " + host + " failed TLS certificate verification", err: err}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &proxyError{code: CodeUpstreamUnreachable, msg: "cannot resolve upstream " + host, err: err}
	}
	return &proxyError{code: CodeUpstreamUnreachable, msg: "cannot reach upstream " + host, err: err}
}

type errorBody struct {
	Error struct {
		Code    Code   `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError is the one place where the proxy answers with an error: the
// status of the code, Sidekey-Error, and {"error":{"code","message"}}, in
// the response of the request model, which each protocol adapter writes.
func writeError(resp *fasthttp.Response, code Code, msg string) {
	resp.Reset()
	resp.SetStatusCode(code.Status())
	resp.Header.Set(headerSidekeyError, string(code))
	resp.Header.SetContentType("application/json")
	if code == CodeProxyAuthRequired || code == CodeProxyAuthInvalid {
		resp.Header.Set("Proxy-Authenticate", `Basic realm="sidekey"`)
	}
	var b errorBody
	b.Error.Code = code
	b.Error.Message = msg
	out, _ := json.Marshal(b) //nolint:errchkjson // two strings always marshal
	resp.SetBodyRaw(append(out, '\n'))
}
