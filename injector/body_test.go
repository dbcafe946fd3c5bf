package injector

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"mime/multipart"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func cfgDoc(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(valJSON), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJSONBody(t *testing.T) {
	cfg := cfgDoc(t)
	basic := base64.StdEncoding.EncodeToString([]byte(valUser + ":" + valPass))
	tests := []struct {
		name string
		ct   string
		in   string
		want any
	}{
		{"inside a string", "application/json", `{"a":"{{secrets.weird}}"}`, map[string]any{"a": valWeird}},
		{"two in one string", "application/json", `{"a":"Bearer {{secrets.plain}} and {{secrets.up.password}}"}`,
			map[string]any{"a": "Bearer " + valPlain + " and " + valPass}},
		{"newline escaped", "application/json", `{"x":"{{secrets.nl}}"}`, map[string]any{"x": valNewline}},
		{"control byte escaped", "application/json", `{"x":"{{secrets.ctl}}","y":"{{secrets.nul}}"}`,
			map[string]any{"x": valCtl, "y": valNUL}},
		{"object in value position", "application/json", `{"a": {{secrets.cfg}} }`, map[string]any{"a": cfg}},
		{"token in value position is quoted", "application/json", `{"a": {{secrets.plain}}}`, map[string]any{"a": valPlain}},
		{"leaves in value position", "application/json",
			`{"a": {{secrets.cfg.n}}, "b": {{ secrets.cfg.t }}, "c": {{secrets.cfg.nested.k.2.x}}, "d": {{secrets.cfg.nested.k}}}`,
			map[string]any{"a": 42.0, "b": true, "c": nil, "d": []any{1.0, "two", map[string]any{"x": nil}}}},
		{"object inside a string is its text", "application/json", `{"a":"{{secrets.cfg}}"}`,
			map[string]any{"a": compactJSON(t, valJSON)}},
		{"string leaf in value position", "application/json", `{"a": {{secrets.cfg.name}}}`,
			map[string]any{"a": "Al\"ice\\ <&>\n"}},
		{"basic in array", "application/json", `[{{secrets.up | basic}}, "{{secrets.up|basic}}"]`, []any{basic, basic}},
		{"json filter in value position", "application/json", `{"a": {{secrets.weird | json}}}`, map[string]any{"a": valWeird}},
		{"json filter inside a string", "application/json", `{"a": "{{secrets.cfg.n | json}}{{secrets.plain|json}}"}`,
			map[string]any{"a": "42\"" + valPlain + "\""}},
		{"after escaped quotes and backslashes", "application/json",
			`{"esc":"\"{{secrets.plain}}\\","x":"\\\"{{secrets.weird}}","y":{{secrets.plain}}}`,
			map[string]any{"esc": `"` + valPlain + `\`, "x": `\"` + valWeird, "y": valPlain}},
		{"in a key", "application/json", `{"k{{secrets.plain}}":1}`, map[string]any{"k" + valPlain: 1.0}},
		{"data placeholders kept", "application/json", `{"t":"{{name}}","u":"{{secrets.plain}}"}`,
			map[string]any{"t": "{{name}}", "u": valPlain}},
		{"vendor +json", "application/vnd.api+json; charset=utf-8", `{"a":"{{secrets.weird}}"}`, map[string]any{"a": valWeird}},
		{"upper-case type", "Application/JSON", `{"a":{{secrets.weird}}}`, map[string]any{"a": valWeird}},
		{"top-level value", "application/json", `{{secrets.cfg}}`, cfg},
		{"unicode around", "application/json", `{"a":"é{{secrets.weird}}😀"}`, map[string]any{"a": "é" + valWeird + "😀"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := rewriteOK(t, asBody(tt.ct, ""), []byte(tt.in))
			var got any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output is not JSON (%v): %s", err, show(out))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("document differs: %s", show(out))
			}
		})
	}
}

func TestFormBody(t *testing.T) {
	in := "a={{secrets.weird}}&b=%7B%7Bsecrets.up.password%7D%7D&c={{+secrets.cfg.s+}}&d=x+y"
	out := rewriteOK(t, asBody("application/x-www-form-urlencoded", ""), []byte(in))
	got, err := url.ParseQuery(string(out))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"a": {valWeird}, "b": {valPass}, "c": {"é % + &"}, "d": {"x y"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("form differs: %s", show(out))
	}
}

func TestXMLBody(t *testing.T) {
	for _, ct := range []string{"application/xml", "text/xml; charset=utf-8", "application/soap+xml"} {
		t.Run(ct, func(t *testing.T) {
			in := `<r a="{{secrets.weird}}"><v>{{secrets.up.password}}</v><c><![CDATA[{{secrets.weird}}]]></c>` +
				`<n>{{secrets.tab}}|{{secrets.nl}}|{{secrets.cfg.name}}</n><j>{{secrets.cfg}}</j></r>`
			out := rewriteOK(t, asBody(ct, ""), []byte(in))
			var got struct {
				A string `xml:"a,attr"`
				V string `xml:"v"`
				C string `xml:"c"`
				N string `xml:"n"`
				J string `xml:"j"`
			}
			if err := xml.Unmarshal(out, &got); err != nil {
				t.Fatalf("output is not XML (%v): %s", err, show(out))
			}
			if got.A != valWeird || got.V != valPass || got.C != valWeird ||
				got.N != valTab+"|"+valNewline+"|Al\"ice\\ <&>\n" || got.J != compactJSON(t, valJSON) {
				t.Fatalf("document differs: %s", show(out))
			}
		})
	}
}

func TestMultipartBody(t *testing.T) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary("b0undary-XYZ"); err != nil {
		t.Fatal(err)
	}
	for _, f := range [][2]string{{"token", "{{secrets.weird}}"}, {"multi", "a\r\n{{secrets.nl}}\r\nb"}, {"{{secrets.plain}}", "named"}} {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	out := rewriteOK(t, asBody(mw.FormDataContentType(), ""), buf.Bytes())
	form, err := multipart.NewReader(bytes.NewReader(out), "b0undary-XYZ").ReadForm(1 << 20)
	if err != nil {
		t.Fatalf("output is not multipart: %v", err)
	}
	got := form.Value
	want := map[string][]string{"token": {valWeird}, "multi": {"a\r\n" + valNewline + "\r\nb"}, valPlain: {"named"}}
	if len(form.File) != 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("parts differ: %d parts, %s", len(got), show(out))
	}
}

func TestRawBody(t *testing.T) {
	for _, ct := range []string{"text/plain", "", "application/octet-stream"} {
		out := rewriteOK(t, asBody(ct, "identity"), []byte("x {{secrets.nl}} {{secrets.weird}} y"))
		if want := "x " + valNewline + " " + valWeird + " y"; string(out) != want {
			t.Fatalf("%q: got %s, want %s", ct, show(out), show([]byte(want)))
		}
	}
}

func TestGzipBody(t *testing.T) {
	w := rewriter(t, newResolver(), Options{})
	in := gz(t, []byte(`{"a":"{{secrets.weird}}","b":{{secrets.cfg}}}`))
	out, err := w.Body(in, []byte("application/json"), []byte("GZIP"))
	if err != nil {
		t.Fatal(err)
	}
	plain := ungz(t, out)
	var got any
	if err := json.Unmarshal(plain, &got); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if want := map[string]any{"a": valWeird, "b": cfgDoc(t)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("document differs: %s", show(plain))
	}

	unchanged := gz(t, []byte(`{"a":"{{name}}"}`))
	out, err = w.Body(unchanged, []byte("application/json"), []byte("x-gzip"))
	if err != nil || !sameSlice(out, unchanged) {
		t.Fatalf("a gzip body without placeholder was not returned as is: %v", err)
	}

	out, err = w.Body(nil, []byte("application/json"), []byte("br"))
	if err != nil || len(out) != 0 {
		t.Fatalf("an empty body with any encoding should pass: %v", err)
	}
}

func TestScrubber(t *testing.T) {
	w := NewRewriter(context.Background(), newResolver(), Options{Host: "api.example.com"})
	if _, err := w.HeaderValue([]byte("Bearer {{secrets.plain}} {{secrets.short}}")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Body([]byte(`{"a":"{{secrets.weird}}"}`), []byte("application/json"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Query([]byte("k=%7B%7B+secrets.up.password+%7D%7D")); err != nil {
		t.Fatal(err)
	}
	inj := w.Injected()
	w.Release() // Injected must outlive the Rewriter
	s := NewScrubber(inj)
	if s == nil {
		t.Fatal("NewScrubber returned nil")
	}

	// As JSON-escaped into the request body (Go's json.Marshal would also
	// escape <, > and &, a form the scrubber does not know).
	jsonWeird := `we\"ird\\ v&l<ue>% +/='ü€😀`
	tests := []struct{ in, want string }{
		{"echo " + valPlain + "!", "echo {{secrets.plain}}!"},
		{valPlain + valPlain, "{{secrets.plain}}{{secrets.plain}}"},
		{"short abc stays", "short abc stays"},
		{"raw " + valWeird, "raw {{secrets.weird}}"},
		{`json "` + jsonWeird + `"`, `json "{{secrets.weird}}"`},
		{"nothing here", "nothing here"},
		{"pass " + valPass, "pass {{ secrets.up.password }}"},
		{"pass " + url.QueryEscape(valPass), "pass {{ secrets.up.password }}"},
	}
	for _, tt := range tests {
		got := s.Bytes([]byte(tt.in))
		if string(got) != tt.want {
			t.Errorf("Bytes: got %s, want %q", show(got), tt.want)
		}
	}
	none := []byte("nothing to scrub")
	if out := s.Bytes(none); !sameSlice(out, none) {
		t.Error("Bytes copied a response without values")
	}

	body := gz(t, []byte("resp "+valPlain))
	out, err := s.Body(body, []byte("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	plain := ungz(t, out)
	if string(plain) != "resp {{secrets.plain}}" {
		t.Fatalf("gzip body not scrubbed: %s", show(plain))
	}
	if out, err := s.Body([]byte(valPlain), nil); err != nil || string(out) != "{{secrets.plain}}" {
		t.Fatalf("identity body not scrubbed: %v", err)
	}
	br := []byte("brotli " + valPlain)
	if out, err := s.Body(br, []byte("br")); err != nil || !sameSlice(out, br) {
		t.Fatalf("other encodings must pass unchanged: %v", err)
	}

	if NewScrubber([]Injection{{Placeholder: "{{secrets.short}}", Value: []byte("abc")}}) != nil {
		t.Fatal("a Scrubber for values shorter than 8 bytes")
	}
	var nilScrubber *Scrubber
	if out := nilScrubber.Bytes([]byte("x")); string(out) != "x" {
		t.Fatal("nil Scrubber changed bytes")
	}
	if strings.Contains(strings.Join(placeholders(inj), ""), valPlain) {
		t.Fatal("placeholder text holds a value")
	}
}

func placeholders(inj []Injection) []string {
	var s []string
	for _, i := range inj {
		s = append(s, i.Placeholder)
	}
	return s
}

func TestScrubberOverlaps(t *testing.T) {
	s := NewScrubber([]Injection{
		{Placeholder: "{{secrets.a}}", Value: []byte("abcdefgh")},
		{Placeholder: "{{secrets.b}}", Value: []byte("abcdefghijkl")},
		{Placeholder: "{{secrets.c}}", Value: []byte("ghijklmnop")},
		{Placeholder: "{{secrets.a2}}", Value: []byte("abcdefgh")}, // same value: first wins
	})
	tests := []struct{ in, want string }{
		{"abcdefghijkl", "{{secrets.b}}"},             // longest at one position
		{"abcdefghXX", "{{secrets.a}}XX"},             // the shorter where the longer does not match
		{"xxabcdefghijklmnop", "xx{{secrets.b}}mnop"}, // leftmost first, then no overlap
		{"ghijklmnop abcdefgh", "{{secrets.c}} {{secrets.a}}"},
	}
	for _, tt := range tests {
		if got := s.Bytes([]byte(tt.in)); string(got) != tt.want {
			t.Errorf("Bytes: got %s, want %s", show(got), show([]byte(tt.want)))
		}
	}
}
