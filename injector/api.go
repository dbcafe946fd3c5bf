// Package injector finds {{secrets.…}} placeholders in the parts of an HTTP
// request, resolves them through a Resolver, and writes each value encoded
// for where it stands (SPEC §3). It is pure: bytes in, bytes out, no I/O of
// its own; the Resolver is the only way out.
//
// CONTRACT (the proxy is written against it — change it
// only together with the proxy):
//
//	rw := injector.NewRewriter(ctx, resolver, injector.Options{Host: "api.example.com", Nonce: nonce})
//	path, err := rw.Path(rawPath)          // escaped path, e.g. "/v1/{{secrets.a}}/x"
//	query, err := rw.Query(rawQuery)       // raw query without '?'
//	err := rw.CheckHeaderName(name)        // refuses a placeholder in a header name
//	val, err := rw.HeaderValue(value)     // or rw.Header(name, value)
//	body, err := rw.Body(body, contentType, contentEncoding) // same encoding out
//	scrub := injector.NewScrubber(rw.Injected())  // nil when nothing to scrub
//	rw.Release()
//
// Every method returns its input slice itself (no copy, no allocation) when
// the input holds no placeholder to resolve. Errors are *Error.
//
// docs/injector.md describes the grammar, the encoding of each context and
// the decisions taken where the SPEC is silent.
package injector

import (
	"context"

	"github.com/sidekey/sidekey/internal/secret"
)

// Resolver resolves an alias (already lower-cased) of the request's tenant.
// It returns errors wrapping secret.ErrNotFound or secret.ErrUnavailable.
// The Rewriter calls it at most once per distinct alias.
type Resolver interface {
	Resolve(ctx context.Context, alias string) (secret.Secret, error)
}

// Deriver is implemented by a Resolver that mints derived credentials:
// token filters such as {{secrets.fcm | google_access_token("scope")}}
// call it with the resolved secret, the filter's name and its arguments.
// The proxy's resolver implements it (through package credential); the
// injector itself still does no I/O. An error that is an *Error chooses
// the code and message (no value in either); any other error is
// credential_exchange_failed.
type Deriver interface {
	Derive(ctx context.Context, alias string, sec secret.Secret, filter string, args []string) (secret.Value, error)
}

// Options configure one request's rewrite.
type Options struct {
	// Host is the real destination host (lower-case, no port), checked
	// against each secret's allowed_hosts.
	Host string
	// Nonce is the Sidekey-Nonce header; non-empty selects strict mode.
	// A nonce that CheckNonce refuses makes every rewrite fail with
	// invalid_placeholder (fail closed: the sender asked for strict mode).
	Nonce string
	// MaxBodySize bounds a decoded gzip body and a rewritten body, in
	// bytes; a larger one is refused with body_too_large. Zero means
	// DefaultMaxBodySize.
	MaxBodySize int
}

// DefaultMaxBodySize is the bound on decoded and rewritten bodies when
// Options.MaxBodySize is zero: the proxy's default body limit (SPEC §4).
const DefaultMaxBodySize = 8 << 20

// Injection is one value that was written into the request, for scrubbing.
type Injection struct {
	// Placeholder is the placeholder text as written in the request.
	Placeholder string
	// Value is the bytes that replaced it, after filters and before
	// context encoding. When the encoding changed them beyond recognition
	// (JSON or percent escaping), a second Injection with the same
	// Placeholder holds the encoded bytes, so that the scrubber finds
	// either form.
	Value []byte
}
