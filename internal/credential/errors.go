package credential

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps one of them; none
// holds a key, a token or a token endpoint's response body.
var (
	// ErrInvalidCredential means a secret does not fit its kind (a missing
	// or malformed field), or a filter or directive names a secret of
	// another kind. The message names the field or the kinds.
	ErrInvalidCredential = errors.New("invalid credential")
	// ErrExchange means a token endpoint refused, failed or answered
	// something that is not a usable token, and no unexpired cached token
	// exists.
	ErrExchange = errors.New("credential exchange failed")
	// ErrEndpointNotAllowed means a token endpoint's host is not allowed by
	// the secret's allowed_hosts.
	ErrEndpointNotAllowed = errors.New("token endpoint not allowed")
	// ErrSigning means a request could not be signed: a malformed
	// Sidekey-Sign directive, a secret of the wrong kind, or missing
	// parameters.
	ErrSigning = errors.New("signing failed")
	// ErrArguments means a filter's arguments do not fit it.
	ErrArguments = errors.New("invalid filter arguments")
)

// ExchangeError describes a failed token exchange without the endpoint's
// body: the HTTP status when the endpoint answered one, else a short reason.
type ExchangeError struct {
	// Kind is the credential kind whose exchange failed.
	Kind Kind
	// Status is the endpoint's HTTP status, or 0 when it gave none.
	Status int
	// Reason is "unreachable", "malformed response", "empty token",
	// "status" or "timeout".
	Reason string
}

// Error implements error.
func (e *ExchangeError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("credential exchange failed: %s token endpoint answered %d", e.Kind, e.Status)
	}
	return fmt.Sprintf("credential exchange failed: %s token endpoint: %s", e.Kind, e.Reason)
}

// Unwrap makes errors.Is(err, ErrExchange) true.
func (e *ExchangeError) Unwrap() error { return ErrExchange }

// permanent reports whether retrying cannot help: the endpoint refused the
// credential (4xx other than 408 and 429).
func (e *ExchangeError) permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != 408 && e.Status != 429
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidCredential}, args...)...)
}

func signingErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSigning}, args...)...)
}
