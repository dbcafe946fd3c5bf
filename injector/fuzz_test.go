package injector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// fuzzParts are the parts FuzzRewrite drives, indexed by its kind byte.
var fuzzParts = []struct {
	name string
	kind partKind
	ct   string
	ce   string
}{
	{"header", ctxHeader, "", ""},
	{"path", ctxPath, "", ""},
	{"query", ctxQuery, "", ""},
	{"json", ctxJSON, "application/json", ""},
	{"form", ctxForm, "application/x-www-form-urlencoded", ""},
	{"xml", ctxXML, "application/xml", ""},
	{"multipart", ctxMultipart, "multipart/form-data; boundary=BOUNDARY42", ""},
	{"raw", ctxRaw, "text/plain", ""},
	{"json-gzip", ctxJSON, "application/json", "gzip"},
}

// leftover matches what must never leave in non-strict mode, read naively:
// "{{", anything but braces, "secrets.".
var leftover = regexp.MustCompile(`(?i)\{\{[^{}]*secrets\.`)

// FuzzRewrite checks, for any input in any part: no panic; an error leaves
// the input untouched and names no value; in non-strict mode no secrets
// reference survives; valid JSON stays valid JSON.
func FuzzRewrite(f *testing.F) {
	seeds := []struct {
		in     string
		kind   uint8
		strict bool
	}{
		{"Bearer {{secrets.plain}}", 0, false},
		{"Basic {{ secrets.up | basic }}", 0, false},
		{"/v1/{{secrets.weird}}/%7B%7Bsecrets.cfg.name%7D%7D", 1, false},
		{"a={{secrets.cfg.nested.k.1}}&b={{+secrets.plain+|+base64url+}}", 2, false},
		{`{"a":"{{secrets.weird}}","b":{{secrets.cfg}},"c":"{{name}}"}`, 3, false},
		{`{"a":"\"{{secrets.plain | json}}\\","b":[{{secrets.cfg.n}}]}`, 3, false},
		{`{"t":"{{N0nce-0123456789abc:secrets.plain}}","u":"{{secrets.plain}}"}`, 3, true},
		{"a={{secrets.up.password}}&b=%7b%7bsecrets.weird%7d%7d", 4, false},
		{`<r a="{{secrets.weird}}"><![CDATA[{{secrets.cfg}}]]></r>`, 5, false},
		{"--BOUNDARY42\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n{{secrets.plain}}\r\n--BOUNDARY42--\r\n", 6, false},
		{"x {{{secrets.plain}}} {{secrets.up}} {{abc:secrets.plain}}", 7, false},
		{`{"a":"{{secrets.cfg.name}}"}`, 8, false},
	}
	for _, s := range seeds {
		f.Add([]byte(s.in), s.kind, s.strict)
	}
	r := newResolver()
	f.Fuzz(func(t *testing.T, in []byte, kind uint8, strict bool) {
		p := fuzzParts[int(kind)%len(fuzzParts)]
		opts := Options{Host: "api.example.com", MaxBodySize: 1 << 20}
		if strict {
			opts.Nonce = testNonce
		}
		w := NewRewriter(context.Background(), r, opts)
		defer w.Release()

		input := in
		if p.ce == "gzip" {
			input = gz(t, in)
		}
		orig := bytes.Clone(input)
		var out []byte
		var err error
		switch p.kind {
		case ctxHeader:
			out, err = w.HeaderValue(input)
		case ctxPath:
			out, err = w.Path(input)
		case ctxQuery:
			out, err = w.Query(input)
		default:
			out, err = w.Body(input, []byte(p.ct), []byte(p.ce))
		}
		if !bytes.Equal(input, orig) {
			t.Fatal("the input was modified")
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not *Error: %T", err)
			}
			assertNoValue(t, err)
			if !sameSlice(out, input) {
				t.Fatal("a failed rewrite returned a partial result")
			}
			return
		}
		if p.ce == "gzip" {
			out = ungz(t, out)
		}
		if !strict && leftover.Match(out) {
			t.Fatalf("output holds {{…secrets.: %s", show(out))
		}
		if !strict {
			pt := part{kind: p.kind}
			c := pt.cursor(out)
			var ph placeholder
			for i := c.next(0); i >= 0; i = c.next(i) {
				if _, ref, _ := ph.parse(&c, i); ref {
					t.Fatalf("an unresolved secrets reference left at byte %d: %s", i, show(out))
				}
				_, width := c.at(i)
				i += width
			}
		}
		if p.kind == ctxJSON && json.Valid(in) && !json.Valid(out) {
			t.Fatalf("valid JSON became invalid: %s", show(out))
		}
		if p.kind == ctxHeader && !bytes.ContainsAny(in, "\r\n\x00") && bytes.ContainsAny(out, "\r\n\x00") {
			t.Fatal("a control byte was injected into a header")
		}
		if p.kind == ctxPath && strings.Count(string(out), "/") != strings.Count(string(in), "/") {
			t.Fatal("an injected value changed the path's segments")
		}
	})
}
