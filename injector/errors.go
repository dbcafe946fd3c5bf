package injector

import (
	"fmt"

	"github.com/sidekey/sidekey/internal/errcode"
)

// Error is a rewrite failure. Its message names the alias and the location
// (e.g. "header Authorization", "body", "query") and never a value.
type Error struct {
	Code     errcode.Code
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
