package credential

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
)

// Request is a request exactly as it will be sent, after injection: what
// a signature covers.
type Request struct {
	Method string
	// Host is the Host header as sent (host[:port]).
	Host string
	// Path is the escaped path as sent; Query the raw query without '?'.
	Path  string
	Query string
	// Header holds the headers as sent (Sidekey-* already removed).
	Header http.Header
	Body   []byte
}

// Edits are the header changes a signature makes: Set replaces each
// header's value, Del removes headers. Set values are secret-derived: the
// proxy must not log them.
type Edits struct {
	Set []HeaderField
	Del []string
}

// HeaderField is one header to set.
type HeaderField struct {
	Name  string
	Value string
}

// String implements fmt.Stringer without the value.
func (f HeaderField) String() string { return f.Name + ": " + secret.Redacted }

// SignRequest names one signature: a directive applied to a secret.
type SignRequest struct {
	Directive Directive
	// Kind and Object are the secret's credential kind and JSON object;
	// Type is its type (a signing directive needs a json secret).
	Type   secret.Type
	Kind   Kind
	Object json.RawMessage
}

// Sign computes the signature d asks for over r and returns the header
// edits. It does no I/O. Errors wrap ErrSigning or ErrInvalidCredential.
func (m *Minter) Sign(ctx context.Context, s SignRequest, r *Request) (Edits, error) {
	e, err := sign(ctx, s, r, m.now())
	out := "ok"
	if err != nil {
		out = "failed"
	}
	m.metrics.signatures.WithLabelValues(s.Directive.Algorithm, out).Inc()
	return e, err
}

func sign(ctx context.Context, s SignRequest, r *Request, now time.Time) (Edits, error) {
	want, ok := SignKind(s.Directive.Algorithm)
	if !ok {
		return Edits{}, signingErr("unknown signing algorithm")
	}
	if s.Type != secret.TypeJSON || s.Kind != want {
		have := string(s.Type)
		if s.Kind != "" {
			have = "json secret of kind " + string(s.Kind)
		}
		return Edits{}, signingErr("%s needs a json secret of kind %s; %s is a %s secret", s.Directive.Algorithm, want, s.Directive.Alias, have)
	}
	switch s.Directive.Algorithm {
	case SignAWSSigV4:
		return signSigV4(ctx, s.Directive, s.Object, r, now)
	case SignHMACSHA256:
		return signHMAC(s.Directive, s.Object, r)
	default:
		return signStandardWebhooks(s.Object, r, now)
	}
}
