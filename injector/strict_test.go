package injector

import (
	"encoding/json"
	"reflect"
	"testing"
)

const testNonce = "N0nce-0123456789abc"

func TestStrictMode(t *testing.T) {
	tests := []struct {
		name string
		part partFunc
		in   string
		want string // "" means: the input itself comes back
	}{
		{"only the nonce reference resolves", inHeader, "{{secrets.plain}} {{" + testNonce + ":secrets.plain}}",
			"{{secrets.plain}} " + valPlain},
		{"whitespace inside the braces", inHeader, "{{ " + testNonce + ":secrets.plain | base64url }}", "dG9rX1BMQUlOLXZhbHVlLjEyMzR-"},
		{"other nonce is data", inHeader, "{{0123456789abcdef0:secrets.plain}}", ""},
		{"unknown alias without the nonce is data", inHeader, "{{secrets.missing}} {{secrets.up}}", ""},
		{"malformed without the nonce is data", inHeader, "{{secrets.plain|}} {{secrets", ""},
		{"secrets. mentioned in other braces is data", inHeader, "{{ name secrets.plain }}", ""},
		{"nonce is case-sensitive", inHeader, "{{n0nce-0123456789abc:secrets.plain}}", ""},
		{"percent-encoded in a path", inPath, "/%7B%7B" + testNonce + ":secrets.plain%7D%7D", "/" + valPlain},
		{"query", inQuery, "a={{secrets.plain}}&b={{" + testNonce + ":secrets.plain}}", "a={{secrets.plain}}&b=" + valPlain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver()
			w := rewriter(t, r, Options{Nonce: testNonce})
			in := []byte(tt.in)
			out, err := tt.part(w, in)
			if err != nil {
				t.Fatalf("rewrite: %v", err)
			}
			if tt.want == "" {
				if !sameSlice(out, in) {
					t.Fatalf("data was rewritten: %s", show(out))
				}
				if len(r.calls) != 0 {
					t.Fatalf("resolver called for data: %v", r.calls)
				}
				return
			}
			if string(out) != tt.want {
				t.Fatalf("got %s, want %s", show(out), show([]byte(tt.want)))
			}
		})
	}
}

func TestStrictModeJSONBody(t *testing.T) {
	w := rewriter(t, newResolver(), Options{Nonce: testNonce})
	in := `{"user_text":"hi {{secrets.plain}} {{secrets.cfg}}","t":"{{` + testNonce + `:secrets.weird}}","c":{{` + testNonce + `:secrets.cfg.nested}}}`
	out, err := w.Body([]byte(in), []byte("application/json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	want := map[string]any{
		"user_text": "hi {{secrets.plain}} {{secrets.cfg}}",
		"t":         valWeird,
		"c":         map[string]any{"k": []any{1.0, "two", map[string]any{"x": nil}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("document differs: %s", show(out))
	}
}
