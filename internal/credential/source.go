package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// DefaultTokenLifetime is assumed for a token response without expires_in
// (RFC 6749 makes it optional).
const DefaultTokenLifetime = 5 * time.Minute

// tokenResult is one minted token.
type tokenResult struct {
	value    string
	lifetime time.Duration // 0: DefaultTokenLifetime
	local    bool          // minted without I/O: no refresh ahead
}

// source is one kind's way to derive a token for one secret and arguments.
type source struct {
	kind Kind
	// endpoint is the token endpoint URL; empty for kinds without I/O.
	endpoint string
	exchange func(ctx context.Context, hc *http.Client) (tokenResult, error)
}

// newSource builds the source for a token filter applied to a secret.
func newSource(filter string, kind Kind, obj json.RawMessage, args []string, now func() time.Time) (*source, error) {
	want, ok := FilterKind(filter)
	if !ok {
		return nil, argsErr("unknown token filter %q", filter)
	}
	if kind != want {
		if kind == "" {
			return nil, invalid("%s needs a json secret of kind %s; the secret has no kind", filter, want)
		}
		return nil, invalid("%s needs a secret of kind %s, not %s", filter, want, kind)
	}
	switch kind {
	case KindGoogleServiceAccount:
		return googleSource(obj, args)
	case KindOAuth2Client:
		return oauth2Source(obj, args)
	case KindAPNsKey:
		return apnsSource(obj, args, now)
	}
	return nil, invalid("kind %s mints no token", kind)
}

// decode validates obj as a secret of kind k and decodes it into a T, the
// fields a kind's source uses.
func decode[T any](k Kind, obj json.RawMessage) (T, error) {
	var v T
	if err := Validate(k, obj); err != nil {
		return v, invalid("%s", err.Error())
	}
	if err := json.Unmarshal(obj, &v); err != nil {
		return v, invalid("%s does not parse", k)
	}
	return v, nil
}

func argsErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrArguments}, args...)...)
}

// splitScopes turns filter arguments into scopes: each argument may hold
// several space-separated scopes.
func splitScopes(args []string) []string {
	var scopes []string
	for _, a := range args {
		scopes = append(scopes, strings.Fields(a)...)
	}
	return scopes
}

func withClient(ctx context.Context, hc *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}

var errEmptyToken = errors.New("empty token")

// fromOAuth2 turns x/oauth2's answer into a tokenResult. The library's
// error is returned as is for classification only: its text may quote the
// endpoint's body, so it never leaves this package.
func fromOAuth2(tok *oauth2.Token, err error) (tokenResult, error) {
	if err != nil {
		return tokenResult{}, err
	}
	if tok == nil || strings.TrimSpace(tok.AccessToken) == "" {
		return tokenResult{}, errEmptyToken
	}
	var lifetime time.Duration
	if !tok.Expiry.IsZero() {
		lifetime = time.Until(tok.Expiry)
		if lifetime <= 0 {
			return tokenResult{}, errEmptyToken
		}
	}
	return tokenResult{value: tok.AccessToken, lifetime: lifetime}, nil
}

// recorder remembers what the token endpoint's transport saw, so that a
// failure is classified from facts (no response, a status) rather than from
// a library's error text.
type recorder struct {
	base http.RoundTripper

	mu     sync.Mutex
	status int
	err    bool
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.err = true
		return nil, err
	}
	r.status = resp.StatusCode
	return resp, nil
}

// recordingClient returns a copy of hc whose transport records the last
// response.
func recordingClient(hc *http.Client) (*http.Client, *recorder) {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	rec := &recorder{base: base}
	c := *hc
	c.Transport = rec
	return &c, rec
}

// classify turns a failed exchange into an *ExchangeError.
func classify(ctx context.Context, kind Kind, rec *recorder, err error) *ExchangeError {
	rec.mu.Lock()
	status, netErr := rec.status, rec.err
	rec.mu.Unlock()
	switch {
	case status != 0 && (status < 200 || status > 299):
		return &ExchangeError{Kind: kind, Status: status, Reason: "status"}
	case errors.Is(err, errEmptyToken):
		return &ExchangeError{Kind: kind, Reason: "empty token"}
	case ctx.Err() != nil:
		return &ExchangeError{Kind: kind, Reason: "timeout"}
	case netErr || status == 0:
		return &ExchangeError{Kind: kind, Reason: "unreachable"}
	default:
		return &ExchangeError{Kind: kind, Reason: "malformed response"}
	}
}
