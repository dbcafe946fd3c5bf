package injector

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/errcode"
)

func compactJSON(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPath(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(valUser + ":" + valPass))
	tests := []struct {
		name string
		in   string
		want []string // the path's segments, decoded
	}{
		{"token", "/v1/{{secrets.plain}}/x", []string{"", "v1", valPlain, "x"}},
		{"special bytes", "/v1/{{ secrets.weird }}", []string{"", "v1", valWeird}},
		{"newline percent-encoded", "/v1/{{secrets.nl}}", []string{"", "v1", valNewline}},
		{"percent-encoded braces", "/a/%7B%7Bsecrets.plain%7D%7D/b", []string{"", "a", valPlain, "b"}},
		{"percent-encoded spaces and pipe", "/a/%7b%7b%20secrets.PLAIN%20%7C%20base64%20%7d%7d",
			[]string{"", "a", base64.StdEncoding.EncodeToString([]byte(valPlain))}},
		{"within a segment", "/x/pre-{{secrets.up.username}}-post", []string{"", "x", "pre-" + valUser + "-post"}},
		{"basic", "/x/{{secrets.up | basic}}", []string{"", "x", basic}},
		{"json string leaf", "/x/{{secrets.cfg.name}}", []string{"", "x", "Al\"ice\\ <&>\n"}},
		{"json array index", "/x/{{secrets.cfg.nested.k.1}}", []string{"", "x", "two"}},
		{"json number leaf", "/x/{{secrets.cfg.n}}", []string{"", "x", "42"}},
		{"two", "/{{secrets.plain}}/{{secrets.weird}}", []string{"", valPlain, valWeird}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := rewriteOK(t, (*Rewriter).Path, []byte(tt.in))
			var got []string
			for _, seg := range strings.Split(string(out), "/") {
				s, err := url.PathUnescape(seg)
				if err != nil {
					t.Fatalf("output segment does not unescape: %v", err)
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("segments differ: got %d segments, %s; want %d", len(got), show(out), len(tt.want))
			}
		})
	}
}

func TestQuery(t *testing.T) {
	cfg := compactJSON(t, valJSON)
	tests := []struct {
		name string
		in   string
		want url.Values
	}{
		{"token", "a={{secrets.weird}}&b=1", url.Values{"a": {valWeird}, "b": {"1"}}},
		{"percent-encoded", "q=%7B%7Bsecrets.plain%7D%7D", url.Values{"q": {valPlain}}},
		{"plus as space", "q={{+secrets.plain+|+base64url+}}",
			url.Values{"q": {base64.RawURLEncoding.EncodeToString([]byte(valPlain))}}},
		{"json object", "q={{secrets.cfg}}", url.Values{"q": {cfg}}},
		{"json nested object", "q={{secrets.cfg.nested}}", url.Values{"q": {`{"k":[1,"two",{"x":null}]}`}}},
		{"urlencode filter then query escaping", "q={{secrets.up.password | urlencode}}",
			url.Values{"q": {url.QueryEscape(valPass)}}},
		{"json filter on text", "q={{secrets.plain | json}}", url.Values{"q": {`"` + valPlain + `"`}}},
		{"json filter on number", "q={{secrets.cfg.n | json}}", url.Values{"q": {"42"}}},
		{"chain", "q={{secrets.weird | base64 | base64}}", url.Values{"q": {
			base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(valWeird))))}}},
		{"key and value", "{{secrets.plain}}={{secrets.up.username}}", url.Values{valPlain: {valUser}}},
		{"data placeholder kept", "t={{name}}&q={{secrets.plain}}", url.Values{"t": {"{{name}}"}, "q": {valPlain}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := rewriteOK(t, (*Rewriter).Query, []byte(tt.in))
			got, err := url.ParseQuery(string(out))
			if err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("query differs: got %d keys, %s", len(got), show(out))
			}
		})
	}
}

func TestHeaderValue(t *testing.T) {
	cfg := compactJSON(t, valJSON)
	basic := base64.StdEncoding.EncodeToString([]byte(valUser + ":" + valPass))
	tests := []struct {
		name, in, want string
	}{
		{"bearer", "Bearer {{secrets.plain}}", "Bearer " + valPlain},
		{"raw special bytes", "{{secrets.weird}}", valWeird},
		{"tab allowed", "{{secrets.tab}}", valTab},
		{"basic with spaces", "Basic {{ secrets.up | basic }}", "Basic " + basic},
		{"basic no spaces", "Basic {{secrets.up|basic}}", "Basic " + basic},
		{"username", "{{secrets.up.username}}", valUser},
		{"password", "{{secrets.up.password}}", valPass},
		{"json object", "{{secrets.cfg}}", cfg},
		{"json bool leaf", "{{secrets.cfg.t}}", "true"},
		{"json null leaf", "x {{secrets.cfg.nested.k.2.x}}", "x null"},
		{"json empty object leaf", "{{secrets.cfg.empty}}", "{}"},
		{"json string leaf with unicode", "{{secrets.cfg.s}}", "é % + &"},
		{"case-insensitive alias and keyword", "{{ Secrets.PLAIN }}", valPlain},
		{"alias with dash", "{{secrets.with-dash}}", valPlain},
		{"base64", "{{secrets.weird|base64}}", base64.StdEncoding.EncodeToString([]byte(valWeird))},
		{"base64url unpadded", "{{secrets.weird|base64url}}", base64.RawURLEncoding.EncodeToString([]byte(valWeird))},
		{"urlencode", "{{secrets.weird|urlencode}}", url.QueryEscape(valWeird)},
		{"json filter", "{{secrets.weird|json}}", `"we\"ird\\ v&l<ue>% +/='ü€😀"`},
		{"json filter idempotent on json", "{{secrets.cfg.nested|json|json}}", `{"k":[1,"two",{"x":null}]}`},
		{"filter names case-insensitive", "{{secrets.plain|BASE64}}", base64.StdEncoding.EncodeToString([]byte(valPlain))},
		{"basic then base64url", "{{secrets.up|basic|base64url}}", base64.RawURLEncoding.EncodeToString([]byte(basic))},
		{"braces around", "{{{secrets.plain}}}", "{" + valPlain + "}"},
		{"data and secret", "{{name}} {{secrets.plain}}", "{{name}} " + valPlain},
		{"twice", "{{secrets.plain}}{{secrets.plain}}", valPlain + valPlain},
		{"tab whitespace inside braces", "{{\tsecrets.plain\t}}", valPlain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := rewriteOK(t, (*Rewriter).HeaderValue, []byte(tt.in))
			if string(out) != tt.want {
				t.Fatalf("got %s, want %s", show(out), show([]byte(tt.want)))
			}
		})
	}
}

// TestUnchanged checks that parts with nothing to resolve come back as the
// very input slice, without an allocation.
func TestUnchanged(t *testing.T) {
	inputs := []string{
		"", "plain text", "{{name}}", "{{ secretsx.a }}", "{ {secrets.a} }", "{{secrets-list}}",
		"{{a:b}}", "%7B%7Bname%7D%7D", "{{", "}}{{}}",
	}
	r := newResolver()
	for _, in := range inputs {
		b := []byte(in)
		w := rewriter(t, r, Options{})
		calls := map[string]func([]byte) ([]byte, error){
			"path":   w.Path,
			"query":  w.Query,
			"header": w.HeaderValue,
			"body": func(b []byte) ([]byte, error) {
				return w.Body(b, []byte("application/json"), nil)
			},
		}
		for name, call := range calls {
			out, err := call(b)
			if err != nil {
				t.Fatalf("%s(%q): %v", name, in, err)
			}
			if !sameSlice(out, b) {
				t.Fatalf("%s(%q) did not return its input", name, in)
			}
			if in == "" {
				continue
			}
			allocs := testing.AllocsPerRun(20, func() { _, _ = call(b) })
			if allocs != 0 {
				t.Fatalf("%s(%q) allocates %.0f times", name, in, allocs)
			}
		}
	}
	if len(r.calls) != 0 {
		t.Fatalf("resolver called for data: %v", r.calls)
	}
}

func TestHeaderNames(t *testing.T) {
	w := rewriter(t, newResolver(), Options{})
	for _, name := range []string{"X-{{secrets.plain}}", "{{x}}", "X-%7B%7Bsecrets.plain%7D%7D"} {
		if err := w.CheckHeaderName([]byte(name)); codeOf(err) != errcode.InvalidPlaceholder {
			t.Fatalf("CheckHeaderName(%q) = %v, want invalid_placeholder", name, err)
		}
		if _, err := w.Header([]byte(name), []byte("v")); codeOf(err) != errcode.InvalidPlaceholder {
			t.Fatalf("Header(%q) = %v, want invalid_placeholder", name, err)
		}
	}
	if err := w.CheckHeaderName([]byte("Authorization")); err != nil {
		t.Fatalf("CheckHeaderName(Authorization) = %v", err)
	}
	out, err := w.Header([]byte("Authorization"), []byte("Bearer {{secrets.plain}}"))
	if err != nil || string(out) != "Bearer "+valPlain {
		t.Fatalf("Header: %v, %s", err, show(out))
	}
	_, err = w.Header([]byte("X-Token"), []byte("{{secrets.nl}}"))
	var e *Error
	if codeOf(err) != errcode.UnsafeHeaderValue || !errorsAs(err, &e) || e.Location != "header X-Token" || e.Alias != "nl" {
		t.Fatalf("Header with newline value = %v", err)
	}
	assertNoValue(t, err)
}

func TestContainsPlaceholder(t *testing.T) {
	for in, want := range map[string]bool{
		"api.example.com": false, "{{secrets.h}}.com": true, "%7B%7Bx": true, "%7b{": true,
		"{x}": false, "": false, "{ {": false,
	} {
		if got := ContainsPlaceholder([]byte(in)); got != want {
			t.Errorf("ContainsPlaceholder(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestResolveOncePerAlias(t *testing.T) {
	r := newResolver()
	w := rewriter(t, r, Options{})
	if _, err := w.HeaderValue([]byte("{{secrets.plain}} {{secrets.PLAIN}} {{ secrets.Plain | base64 }}")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Path([]byte("/{{secrets.plain}}")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Body([]byte(`{"a":"{{secrets.plain}}","b":"{{secrets.up.username}}","c":"{{secrets.up.password}}"}`),
		[]byte("application/json"), nil); err != nil {
		t.Fatal(err)
	}
	_, _ = w.HeaderValue([]byte("{{secrets.missing}}"))
	_, _ = w.HeaderValue([]byte("{{secrets.missing}}"))
	want := map[string]int{"plain": 1, "up": 1, "missing": 1}
	if !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("resolver calls = %v, want %v", r.calls, want)
	}
}
