package injector

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/sidekey/sidekey/internal/errcode"
)

func TestJSONWalk(t *testing.T) {
	doc := ` { "a" : { "b" : [ 10 , "x\"y" , { "c" : true } ] } , "a\u0062" : "escaped key", "d": 1, "d": 2, "s": "caf\u00e9", "e": [] } `
	tests := []struct {
		fields []string
		want   string // compact JSON or string content; "" means not found
	}{
		{[]string{"a", "b", "0"}, "10"},
		{[]string{"a", "b", "1"}, `x"y`},
		{[]string{"a", "b", "2", "c"}, "true"},
		{[]string{"a", "b"}, `[10,"x\"y",{"c":true}]`},
		{[]string{"ab"}, "escaped key"},
		{[]string{"d"}, "2"},
		{[]string{"s"}, "café"},
		{[]string{"e"}, "[]"},
		{[]string{"e", "0"}, ""},
		{[]string{"a", "b", "3"}, ""},
		{[]string{"a", "x"}, ""},
		{[]string{"d", "x"}, ""},
	}
	for _, tt := range tests {
		w := NewRewriter(t.Context(), nil, Options{})
		var p placeholder
		for _, f := range tt.fields {
			p.fields = append(p.fields, f...)
			p.fieldEnd[p.nfields] = len(p.fields)
			p.nfields++
		}
		_, err := w.walkJSON(&p, json.RawMessage(doc))
		switch {
		case tt.want == "" && codeOf(err) != errcode.FieldNotFound:
			t.Errorf("%v: error %v, want field_not_found", tt.fields, err)
		case tt.want != "" && err != nil:
			t.Errorf("%v: %v", tt.fields, err)
		case tt.want != "" && string(w.val) != tt.want:
			t.Errorf("%v: got %s, want %s", tt.fields, show(w.val), show([]byte(tt.want)))
		}
		w.Release()
	}
	for _, bad := range []string{`{"a":`, `{"a" 1}`, `{"a":[1,}`, `"str"`, `[1]`, `{"a":"x}`, `{"a":tru}`, ``} {
		w := NewRewriter(t.Context(), nil, Options{})
		p := placeholder{fields: []byte("a"), nfields: 1}
		p.fieldEnd[0] = 1
		if _, err := w.walkJSON(&p, json.RawMessage(bad)); codeOf(err) != errcode.StoreUnavailable {
			t.Errorf("walk of %q: %v, want store_unavailable", bad, err)
		}
		w.Release()
	}
}

func TestIndexOpenRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("{{{{{a\"}")
	for n := 0; n < 20000; n++ {
		b := make([]byte, rng.IntN(100))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := indexOpen(b), bytes.Index(b, []byte("{{")); got != want {
			t.Fatalf("indexOpen(%q) = %d, want %d", b, got, want)
		}
	}
}

func TestIndexOpen(t *testing.T) {
	base := []byte(`{"a":{"b":[{"c":"d"}]},"e":"f{g}h{"}` + "0123456789abcdef0123456789abcdef")
	if got := indexOpen(base); got != -1 {
		t.Fatalf("indexOpen found %d in a text without {{", got)
	}
	for at := 0; at+2 <= len(base); at++ {
		b := append([]byte(nil), base...)
		b[at], b[at+1] = '{', '{'
		want := bytes.Index(b, []byte("{{"))
		if got := indexOpen(b); got != want {
			t.Fatalf("indexOpen with {{ at %d = %d, want %d", at, got, want)
		}
	}
}

// TestJSONStateRandom checks the vectorised string tracking against a plain
// byte loop, advancing in random steps.
func TestJSONStateRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte(`"\ab{`)
	for n := 0; n < 5000; n++ {
		b := make([]byte, rng.IntN(80))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		// Reference: in-string state before each position.
		ref := make([]bool, len(b)+1)
		in, skip := false, false
		for i, c := range b {
			ref[i] = in
			switch {
			case skip:
				skip = false
			case c == '"':
				in = !in
			case c == '\\' && in:
				skip = true
			}
		}
		ref[len(b)] = in
		var s jsonState
		for to := 0; to <= len(b); to += 1 + rng.IntN(7) {
			s.advance(b, to)
			if s.pos > to {
				break // an escape spans to; the rewriter never stops there
			}
			if s.in != ref[to] {
				t.Fatalf("state at %d of %q = %v, want %v", to, b, s.in, ref[to])
			}
		}
	}
}
