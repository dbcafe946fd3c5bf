package injector

import (
	"context"
	"errors"
)

// errNotBuilt marks the stubs below; the injector issue replaces them.
var errNotBuilt = errors.New("injector: not built yet")

// Rewriter rewrites the parts of one request. It is not safe for concurrent
// use. Slices it returns belong to the caller.
type Rewriter struct {
	ctx      context.Context
	resolver Resolver
	opts     Options
}

// NewRewriter returns a Rewriter for one request. Call Release when done.
func NewRewriter(ctx context.Context, r Resolver, opts Options) *Rewriter {
	return &Rewriter{ctx: ctx, resolver: r, opts: opts}
}

// Release returns the Rewriter to a pool; it must not be used afterwards.
func (w *Rewriter) Release() {}

// Path rewrites an escaped URL path; values are percent-encoded as a path
// segment.
func (w *Rewriter) Path(p []byte) ([]byte, error) { return p, errNotBuilt }

// Query rewrites a raw query string (without '?'); values are query-escaped.
func (w *Rewriter) Query(q []byte) ([]byte, error) { return q, errNotBuilt }

// CheckHeaderName refuses a header name that holds a placeholder.
func (w *Rewriter) CheckHeaderName(name []byte) error { return errNotBuilt }

// HeaderValue rewrites a header value; a value with CR, LF, NUL or another
// control byte other than TAB is refused (unsafe_header_value).
func (w *Rewriter) HeaderValue(v []byte) ([]byte, error) { return v, errNotBuilt }

// Body rewrites a request body encoded for its Content-Type. A gzip body is
// decoded, rewritten and re-encoded (same Content-Encoding); another
// non-identity encoding is refused. It returns body itself when unchanged.
func (w *Rewriter) Body(body, contentType, contentEncoding []byte) ([]byte, error) {
	return body, errNotBuilt
}

// Injected lists the values written into the request so far.
func (w *Rewriter) Injected() []Injection { return nil }

// ContainsPlaceholder reports whether b holds anything that starts like a
// placeholder ("{{"), for parts where none is allowed (scheme, host, port).
func ContainsPlaceholder(b []byte) bool { return false }

// Scrubber replaces injected values (of at least 8 bytes) in a response with
// their placeholder text.
type Scrubber struct{}

// NewScrubber returns a Scrubber for the injections, or nil when none is
// long enough to scrub.
func NewScrubber(inj []Injection) *Scrubber { return nil }

// Bytes returns b with every injected value replaced; b itself when none
// occurs.
func (s *Scrubber) Bytes(b []byte) []byte { return b }

// Body scrubs a response body of the given Content-Encoding (identity or
// gzip; others are returned unchanged).
func (s *Scrubber) Body(body, contentEncoding []byte) ([]byte, error) { return body, errNotBuilt }
