package injector

import "fmt"

// Code is a fail-closed error code of SPEC §4.
type Code string

// The codes the injector produces.
const (
	CodeSecretNotFound             Code = "secret_not_found"
	CodeFieldNotFound              Code = "field_not_found"
	CodeInvalidPlaceholder         Code = "invalid_placeholder"
	CodeUnsafeHeaderValue          Code = "unsafe_header_value"
	CodeHostNotAllowed             Code = "host_not_allowed"
	CodeUnsupportedContentEncoding Code = "unsupported_content_encoding"
	CodeBodyTooLarge               Code = "body_too_large"
	CodeStoreUnavailable           Code = "store_unavailable"
)

// Error is a rewrite failure. Its message names the alias and the location
// (e.g. "header Authorization", "body", "query") and never a value.
type Error struct {
	Code     Code
	Alias    string
	Location string
	Detail   string
	// Err is the cause, when there is one (e.g. from the Resolver).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Location != "" {
		msg += " in " + e.Location
	}
	if e.Alias != "" {
		msg += fmt.Sprintf(" (alias %q)", e.Alias)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
