package injector

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/sidekey/sidekey/internal/errcode"
	"github.com/sidekey/sidekey/internal/secret"
)

// derivingResolver is a fakeResolver that also derives tokens: the token
// is "derived:" + filter + ":" + the arguments joined by "|".
type derivingResolver struct {
	*fakeResolver
	mu    sync.Mutex
	calls []string
	err   error
}

func (d *derivingResolver) Derive(_ context.Context, alias string, sec secret.Secret, filter string, args []string) (secret.Value, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, alias+" "+filter+" "+strings.Join(args, "|"))
	if d.err != nil {
		return secret.Value{}, d.err
	}
	if sec.Type != secret.TypeJSON {
		return secret.Value{}, &Error{Code: errcode.InvalidCredential, Detail: "needs a json secret"}
	}
	return secret.Value{Token: "derived:" + filter + ":" + strings.Join(args, "|")}, nil
}

func TestDerivedFilters(t *testing.T) {
	cases := []struct {
		name, in, want string
		call           string
	}{
		{"google scope", `Bearer {{secrets.cfg | google_access_token("https://www.googleapis.com/auth/firebase.messaging")}}`,
			"Bearer derived:google_access_token:https://www.googleapis.com/auth/firebase.messaging",
			"cfg google_access_token https://www.googleapis.com/auth/firebase.messaging"},
		{"no args", `Bearer {{ secrets.CFG|oauth2_token }}`, "Bearer derived:oauth2_token:", "cfg oauth2_token "},
		{"case, spacing, single quotes, two args", `{{secrets.cfg | OAuth2_Token ( 'a b' , "c" ) }}`, "derived:oauth2_token:a b|c", "cfg oauth2_token a b|c"},
		{"apns", `bearer {{secrets.cfg | apns_jwt}}`, "bearer derived:apns_jwt:", "cfg apns_jwt "},
		{"then base64", `{{secrets.cfg | apns_jwt | base64}}`, "ZGVyaXZlZDphcG5zX2p3dDo=", "cfg apns_jwt "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &derivingResolver{fakeResolver: newResolver()}
			rw := NewRewriter(context.Background(), d, Options{})
			defer rw.Release()
			got, err := rw.HeaderValue([]byte(tc.in))
			if err != nil {
				t.Fatalf("HeaderValue: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if len(d.calls) != 1 || d.calls[0] != tc.call {
				t.Fatalf("Derive calls %q, want [%q]", d.calls, tc.call)
			}
			if inj := rw.Injected(); len(inj) == 0 {
				t.Fatal("the derived value is not recorded for scrubbing")
			}
		})
	}
}

func TestDerivedFilterInJSONBody(t *testing.T) {
	d := &derivingResolver{fakeResolver: newResolver()}
	rw := NewRewriter(context.Background(), d, Options{})
	defer rw.Release()
	body := []byte(`{"auth":"Bearer {{secrets.cfg | google_access_token('s1')}}"}`)
	got, err := rw.Body(body, []byte("application/json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"auth":"Bearer derived:google_access_token:s1"}` {
		t.Fatalf("body %s", got)
	}
}

func TestDerivedFilterErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		err  error
		code errcode.Code
	}{
		{"args on a plain filter", `{{secrets.cfg | base64("x")}}`, nil, errcode.InvalidPlaceholder},
		{"not first", `{{secrets.cfg | base64 | oauth2_token}}`, nil, errcode.InvalidPlaceholder},
		{"on a field", `{{secrets.cfg.name | oauth2_token}}`, nil, errcode.InvalidPlaceholder},
		{"unquoted", `{{secrets.cfg | oauth2_token(scope)}}`, nil, errcode.InvalidPlaceholder},
		{"unterminated", `{{secrets.cfg | oauth2_token("scope)}}`, nil, errcode.InvalidPlaceholder},
		{"mixed quotes", `{{secrets.cfg | oauth2_token("scope')}}`, nil, errcode.InvalidPlaceholder},
		{"no close paren", `{{secrets.cfg | oauth2_token("a" "b")}}`, nil, errcode.InvalidPlaceholder},
		{"five args", `{{secrets.cfg | oauth2_token("a","b","c","d","e")}}`, nil, errcode.InvalidPlaceholder},
		{"token secret", `{{secrets.plain | oauth2_token}}`, nil, errcode.InvalidCredential},
		{"coded error", `{{secrets.cfg | oauth2_token}}`, &Error{Code: errcode.CredentialExchangeFailed, Detail: "token endpoint answered 401"}, errcode.CredentialExchangeFailed},
		{"plain error", `{{secrets.cfg | oauth2_token}}`, errors.New("dial: " + valPlain), errcode.CredentialExchangeFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &derivingResolver{fakeResolver: newResolver(), err: tc.err}
			rw := NewRewriter(context.Background(), d, Options{})
			defer rw.Release()
			_, err := rw.HeaderValue([]byte(tc.in))
			if got := codeOf(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			assertNoValue(t, err)
		})
	}
	// A resolver that cannot derive refuses token filters.
	rw := NewRewriter(context.Background(), newResolver(), Options{})
	defer rw.Release()
	if _, err := rw.HeaderValue([]byte(`{{secrets.cfg | apns_jwt}}`)); codeOf(err) != errcode.InvalidPlaceholder {
		t.Fatalf("without a Deriver: %v", err)
	}
}

// TestDerivedScrubPlaceholderIsJSONSafe: the placeholder a derived value is
// scrubbed back to holds no double quote, so an upstream's JSON echo stays
// valid JSON after scrubbing.
func TestDerivedScrubPlaceholderIsJSONSafe(t *testing.T) {
	d := &derivingResolver{fakeResolver: newResolver()}
	rw := NewRewriter(context.Background(), d, Options{})
	defer rw.Release()
	if _, err := rw.HeaderValue([]byte(`Bearer {{secrets.cfg | google_access_token("s1")}}`)); err != nil {
		t.Fatal(err)
	}
	sc := NewScrubber(rw.Injected())
	out := sc.Bytes([]byte(`{"echo":"Bearer derived:google_access_token:s1"}`))
	if string(out) != `{"echo":"Bearer {{secrets.cfg | google_access_token('s1')}}"}` {
		t.Fatalf("scrubbed %s", out)
	}
}
