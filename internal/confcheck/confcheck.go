// Package confcheck is the one convention of Sidekey's configuration
// checks: a component's Validate reports every invalid field at once, each
// as a *FieldError naming the field by its Go name, joined. The command
// line maps those names to its flags.
package confcheck

import (
	"errors"
	"fmt"
	"time"
)

// FieldError is one invalid field of a component's configuration.
type FieldError struct {
	// Component is the package whose configuration it is ("proxy").
	Component string
	// Field is the field's Go name, dotted below the top level
	// ("MaxBodyBytes", "Auth.Method", "Cache.TTL").
	Field string
	// Reason says what is wrong, with the offending value when that is no
	// secret ("-1 must not be negative").
	Reason string
}

func (e *FieldError) Error() string {
	return e.Component + ": invalid configuration: " + e.Field + ": " + e.Reason
}

// Checker collects the FieldErrors of one component's configuration. The
// zero Checker is not usable; make one with New.
type Checker struct {
	component string
	errs      []error
}

// New returns a Checker of component's configuration.
func New(component string) *Checker {
	return &Checker{component: component}
}

// Fail records that field is invalid, the reason formatted from format and
// args.
func (c *Checker) Fail(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Component: c.component, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// Err returns every recorded FieldError, joined, or nil when there is none.
func (c *Checker) Err() error {
	return errors.Join(c.errs...)
}

// NotNegative records field as invalid when v is negative: zero means "the
// default" in every Sidekey configuration, a negative size or duration is
// an error.
func NotNegative[T int | int64 | time.Duration](c *Checker, field string, v T) {
	if v < 0 {
		c.Fail(field, "%v must not be negative", v)
	}
}
