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
	"github.com/sidekey/sidekey/internal/errcode"
	"github.com/sidekey/sidekey/internal/secret"
)

// Code is an error code the proxy answers with (SPEC §4), sent in the
// Sidekey-Error header and the JSON body. The codes, their statuses and
// meanings live in the one registry, internal/errcode; the names below are
// the proxy's short spellings of its entries.
type Code = errcode.Code

// The proxy's codes (errcode.Of(errcode.Proxy)).
const (
	CodeProxyAuthRequired         = errcode.ProxyAuthRequired
	CodeProxyAuthInvalid          = errcode.ProxyAuthInvalid
	CodeHostNotAllowed            = errcode.HostNotAllowed
	CodeDestinationForbidden      = errcode.DestinationForbidden
	CodePlainHTTPInjectionRefused = errcode.PlainHTTPInjectionRefused
	CodeSecretNotFound            = errcode.SecretNotFound
	CodeFieldNotFound             = errcode.FieldNotFound
	CodeInvalidPlaceholder        = errcode.InvalidPlaceholder
	CodeUnsafeHeaderValue         = errcode.UnsafeHeaderValue
	CodeBodyTooLarge              = errcode.BodyTooLarge
	CodeUnsupportedEncoding       = errcode.UnsupportedContentEncoding
	CodeUpstreamUnreachable       = errcode.UpstreamUnreachable
	CodeStoreUnavailable          = errcode.StoreUnavailable
	CodeUpstreamTimeout           = errcode.UpstreamTimeout
	CodeInvalidRequest            = errcode.InvalidRequest
	CodeHeadersTooLarge           = errcode.HeadersTooLarge
	CodeTooManyConnections        = errcode.TooManyConnections
)

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
		return ie.Code, ie.Error()
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
