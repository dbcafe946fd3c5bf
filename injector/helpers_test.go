package injector

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"

	"github.com/sidekey/sidekey/internal/errcode"
)

// Test values. Each is distinctive so that a leak into an error message can
// be found by substring; the mix covers quotes, backslashes, unicode, &, <,
// %, spaces, '+', '/', '=' and (where allowed) control bytes.
const (
	valPlain    = "tok_PLAIN-value.1234~"
	valWeird    = `we"ird\ v&l<ue>% +/='ü€😀`
	valNewline  = "line-one\nline-two"
	valTab      = "tab\tvalue-123"
	valUser     = "us:er ü"
	valPass     = `p@ss "w&rd"\%`
	valJSON     = `{"name":"Al\"ice\\ <&>\n","n":42,"nested":{"k":[1,"two",{"x":null}]},"t":true,"empty":{},"s":"é % + &"}`
	valHosted   = "hosted-secret-value"
	valBoundary = "xx--BOUNDARY42--yy"
	valDots     = ".."
	valInvalid  = "bad\xffutf8-value"
	valPH       = "{{secrets.plain}}"
	valCtl      = "ctl\x01value-1234"
	valNUL      = "nul\x00value-1234"
	valDEL      = "del\x7fvalue-1234"
)

// allValues lists every value, for leak checks.
var allValues = []string{valPlain, valWeird, valNewline, valTab, valUser, valPass, valJSON,
	valHosted, valBoundary, valInvalid, valCtl, valNUL, valDEL, "Al\"ice", "é % + &"}

// fakeResolver resolves from a map and counts calls per alias.
type fakeResolver struct {
	mu      sync.Mutex
	secrets map[string]secret.Secret
	calls   map[string]int
}

func newResolver() *fakeResolver {
	return &fakeResolver{
		secrets: map[string]secret.Secret{
			"plain":     {Type: secret.TypeToken, Value: secret.Value{Token: valPlain}},
			"weird":     {Type: secret.TypeToken, Value: secret.Value{Token: valWeird}},
			"nl":        {Type: secret.TypeToken, Value: secret.Value{Token: valNewline}},
			"tab":       {Type: secret.TypeToken, Value: secret.Value{Token: valTab}},
			"up":        {Type: secret.TypeUsernamePassword, Value: secret.Value{Username: valUser, Password: valPass}},
			"cfg":       {Type: secret.TypeJSON, Value: secret.Value{JSON: []byte(valJSON)}},
			"hosted":    {Type: secret.TypeToken, Value: secret.Value{Token: valHosted}, AllowedHosts: []string{"api.example.com", "*.example.org"}},
			"bound":     {Type: secret.TypeToken, Value: secret.Value{Token: valBoundary}},
			"dots":      {Type: secret.TypeToken, Value: secret.Value{Token: valDots}},
			"invalid":   {Type: secret.TypeToken, Value: secret.Value{Token: valInvalid}},
			"ph":        {Type: secret.TypeToken, Value: secret.Value{Token: valPH}},
			"short":     {Type: secret.TypeToken, Value: secret.Value{Token: "abc"}},
			"ctl":       {Type: secret.TypeToken, Value: secret.Value{Token: valCtl}},
			"nul":       {Type: secret.TypeToken, Value: secret.Value{Token: valNUL}},
			"del":       {Type: secret.TypeToken, Value: secret.Value{Token: valDEL}},
			"badjson":   {Type: secret.TypeJSON, Value: secret.Value{JSON: []byte(`{"a":`)}},
			"badtype":   {Type: secret.Type("other"), Value: secret.Value{Token: valPlain}},
			"with-dash": {Type: secret.TypeToken, Value: secret.Value{Token: valPlain}},
		},
		calls: map[string]int{},
	}
}

func (f *fakeResolver) Resolve(_ context.Context, alias string) (secret.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[alias]++
	switch alias {
	case "down":
		return secret.Secret{}, fmt.Errorf("fake: %w", secret.ErrUnavailable)
	case "broken":
		return secret.Secret{}, errors.New("fake: connection reset")
	}
	s, ok := f.secrets[alias]
	if !ok {
		return secret.Secret{}, fmt.Errorf("fake: alias %s: %w", alias, secret.ErrNotFound)
	}
	return s, nil
}

// show describes b without revealing it: test failures must not print
// secret values.
func show(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("len=%d sha256=%x", len(b), sum[:8])
}

// assertNoValue fails when an error message holds a test value.
func assertNoValue(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, v := range allValues {
		if strings.Contains(msg, v) {
			t.Fatalf("error message holds a secret value (len %d)", len(v))
		}
	}
}

// codeOf returns the Code of an *Error, or "" for nil, or "not *Error".
func codeOf(err error) errcode.Code {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return "not *Error"
	}
	return e.Code
}

func rewriter(t testing.TB, r Resolver, opts Options) *Rewriter {
	if opts.Host == "" {
		opts.Host = "api.example.com"
	}
	w := NewRewriter(context.Background(), r, opts)
	t.Cleanup(w.Release)
	return w
}

// rewriteOK rewrites in with part, a Rewriter method such as
// (*Rewriter).Path or asBody's, on a fresh Rewriter over newResolver, and
// fails the test on an error.
func rewriteOK(t testing.TB, part func(w *Rewriter, in []byte) ([]byte, error), in []byte) []byte {
	t.Helper()
	out, err := part(rewriter(t, newResolver(), Options{}), in)
	if err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	return out
}

// asBody returns the part that rewrites a body of content type ct and
// content encoding ce ("": none).
func asBody(ct, ce string) func(*Rewriter, []byte) ([]byte, error) {
	var enc []byte
	if ce != "" {
		enc = []byte(ce)
	}
	return func(w *Rewriter, b []byte) ([]byte, error) { return w.Body(b, []byte(ct), enc) }
}

func errorsAs(err error, target **Error) bool { return errors.As(err, target) }
