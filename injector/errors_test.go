package injector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"

	"github.com/sidekey/sidekey/internal/errcode"
)

// partFunc rewrites one part of a request.
type partFunc func(w *Rewriter, b []byte) ([]byte, error)

var (
	inHeader partFunc = (*Rewriter).HeaderValue
	inPath   partFunc = (*Rewriter).Path
	inQuery  partFunc = (*Rewriter).Query
)

func inBody(contentType, contentEncoding string) partFunc {
	return func(w *Rewriter, b []byte) ([]byte, error) {
		return w.Body(b, []byte(contentType), []byte(contentEncoding))
	}
}

// testGzipWriters keeps gzip writers between calls of gz: a new writer
// costs about 1 MB, which would dominate the fuzz target.
var testGzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := testGzipWriters.Get().(*gzip.Writer)
	defer testGzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ungz decodes the gzip stream b, failing the test when it is not one.
func ungz(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output is not gzip: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("output is not gzip: %v", err)
	}
	return plain
}

func TestErrors(t *testing.T) {
	bomb := gz(t, bytes.Repeat([]byte("{{secrets.plain}}"), 1<<16)) // 1.1 MB decoded
	tests := []struct {
		name  string
		part  partFunc
		in    string
		opts  Options
		code  errcode.Code
		alias string
		loc   string
	}{
		{"unknown alias", inHeader, "{{secrets.missing}}", Options{}, errcode.SecretNotFound, "missing", "header"},
		{"unknown alias upper-case", inHeader, "{{secrets.MISSING}}", Options{}, errcode.SecretNotFound, "missing", "header"},
		{"store down", inQuery, "a={{secrets.down}}", Options{}, errcode.StoreUnavailable, "down", "query"},
		{"store error", inPath, "/{{secrets.broken}}", Options{}, errcode.StoreUnavailable, "broken", "path"},
		{"token field", inHeader, "{{secrets.plain.x}}", Options{}, errcode.FieldNotFound, "plain", "header"},
		{"bare username_password", inHeader, "{{secrets.up}}", Options{}, errcode.InvalidPlaceholder, "up", "header"},
		{"bare username_password with base64", inHeader, "{{secrets.up|base64}}", Options{}, errcode.InvalidPlaceholder, "up", "header"},
		{"username_password unknown field", inHeader, "{{secrets.up.email}}", Options{}, errcode.FieldNotFound, "up", "header"},
		{"username_password deep field", inHeader, "{{secrets.up.username.x}}", Options{}, errcode.FieldNotFound, "up", "header"},
		{"basic on a field", inHeader, "{{secrets.up.username | basic}}", Options{}, errcode.InvalidPlaceholder, "up", "header"},
		{"basic on a token", inHeader, "{{secrets.plain | basic}}", Options{}, errcode.InvalidPlaceholder, "plain", "header"},
		{"basic twice", inHeader, "{{secrets.up | basic | basic}}", Options{}, errcode.InvalidPlaceholder, "up", "header"},
		{"json missing key", inHeader, "{{secrets.cfg.nope}}", Options{}, errcode.FieldNotFound, "cfg", "header"},
		{"json index out of range", inHeader, "{{secrets.cfg.nested.k.3}}", Options{}, errcode.FieldNotFound, "cfg", "header"},
		{"json index leading zero", inHeader, "{{secrets.cfg.nested.k.01}}", Options{}, errcode.FieldNotFound, "cfg", "header"},
		{"json key on array", inHeader, "{{secrets.cfg.nested.k.x}}", Options{}, errcode.FieldNotFound, "cfg", "header"},
		{"json walk into number", inHeader, "{{secrets.cfg.n.x}}", Options{}, errcode.FieldNotFound, "cfg", "header"},
		{"json key is case-sensitive", inHeader, "{{secrets.cfg.Name}}", Options{}, errcode.FieldNotFound, "cfg", "header"},
		{"stored json invalid", inHeader, "{{secrets.badjson.a}}", Options{}, errcode.StoreUnavailable, "badjson", "header"},
		{"stored type unknown", inHeader, "{{secrets.badtype}}", Options{}, errcode.StoreUnavailable, "badtype", "header"},
		{"unknown filter", inHeader, "{{secrets.plain | rot13}}", Options{}, errcode.InvalidPlaceholder, "plain", "header"},
		{"empty filter", inHeader, "{{secrets.plain |}}", Options{}, errcode.InvalidPlaceholder, "plain", "header"},
		{"too many filters", inHeader, "{{secrets.plain" + strings.Repeat("|json", 9) + "}}", Options{}, errcode.InvalidPlaceholder, "plain", "header"},
		{"unterminated", inHeader, "{{secrets.plain", Options{}, errcode.InvalidPlaceholder, "plain", "header"},
		{"single closing brace", inHeader, "{{secrets.plain}", Options{}, errcode.InvalidPlaceholder, "plain", "header"},
		{"no alias", inHeader, "{{secrets}}", Options{}, errcode.InvalidPlaceholder, "", "header"},
		{"empty alias", inHeader, "{{secrets.}}", Options{}, errcode.InvalidPlaceholder, "", "header"},
		{"space in reference", inHeader, "{{secrets.a b}}", Options{}, errcode.InvalidPlaceholder, "a", "header"},
		{"space before dot", inHeader, "{{ secrets .plain }}", Options{}, errcode.InvalidPlaceholder, "", "header"},
		{"empty field", inHeader, "{{secrets.plain.}}", Options{}, errcode.InvalidPlaceholder, "plain", "header"},
		{"alias too long", inHeader, "{{secrets." + strings.Repeat("a", 65) + "}}", Options{}, errcode.InvalidPlaceholder, "", "header"},
		{"bad alias character", inHeader, "{{secrets.pla!n}}", Options{}, errcode.InvalidPlaceholder, "pla", "header"},
		{"secrets. mentioned in other braces", inHeader, "{{ name secrets.plain }}", Options{}, errcode.InvalidPlaceholder, "", "header"},
		{"secrets. mentioned after a prefix", inBody("text/plain", ""), "x {{a:b SECRETS.plain}}", Options{}, errcode.InvalidPlaceholder, "", "body at byte 2"},
		{"secrets. mentioned, percent-encoded", inQuery, "q=%7B%7Bx%20secrets.plain%7D%7D", Options{}, errcode.InvalidPlaceholder, "", "query"},
		{"secrets. mentioned behind an encoded brace", inPath, "/{{x%7Dsecrets.plain}}", Options{}, errcode.InvalidPlaceholder, "", "path"},
		{"nonce prefix without nonce", inHeader, "{{abc:secrets.plain}}", Options{}, errcode.InvalidPlaceholder, "plain", "header"},
		{"malformed in JSON string", inBody("application/json", ""), `{"a":"{{secrets.plain"}}`, Options{}, errcode.InvalidPlaceholder, "plain", "body at byte 6"},
		{"newline in header", inHeader, "{{secrets.nl}}", Options{}, errcode.UnsafeHeaderValue, "nl", "header"},
		{"control byte in header", inHeader, "x {{secrets.ctl}}", Options{}, errcode.UnsafeHeaderValue, "ctl", "header"},
		{"NUL in header", inHeader, "{{secrets.nul}}", Options{}, errcode.UnsafeHeaderValue, "nul", "header"},
		{"DEL in header", inHeader, "{{secrets.del}}", Options{}, errcode.UnsafeHeaderValue, "del", "header"},
		{"LF from a json leaf in header", inHeader, "{{secrets.cfg.name}}", Options{}, errcode.UnsafeHeaderValue, "cfg", "header"},
		{"host not allowed", inHeader, "{{secrets.hosted}}", Options{Host: "evil.example.net"}, errcode.HostNotAllowed, "hosted", "header"},
		{"host glob does not match the apex", inHeader, "{{secrets.hosted}}", Options{Host: "example.org"}, errcode.HostNotAllowed, "hosted", "header"},
		{"value forms a placeholder", inHeader, "{{secrets.ph}}", Options{}, errcode.InvalidPlaceholder, "", "header"},
		{"dot segment in path", inPath, "/a/{{secrets.dots}}/b", Options{}, errcode.InvalidPlaceholder, "dots", "path"},
		{"invalid UTF-8 into JSON", inBody("application/json", ""), `{"a":"{{secrets.invalid}}"}`, Options{}, errcode.InvalidPlaceholder, "invalid", "body at byte 6"},
		{"invalid UTF-8 through json filter", inHeader, "{{secrets.invalid|json}}", Options{}, errcode.InvalidPlaceholder, "invalid", "header"},
		{"invalid char into XML", inBody("text/xml", ""), `<a>{{secrets.invalid}}</a>`, Options{}, errcode.InvalidPlaceholder, "invalid", "body at byte 3"},
		{"control char into XML", inBody("application/xml", ""), `<a>{{secrets.cfg.name}}{{secrets.ctl}}</a>`, Options{}, errcode.InvalidPlaceholder, "ctl", "body at byte 23"},
		{"boundary in multipart value", inBody("multipart/form-data; boundary=BOUNDARY42", ""),
			"--BOUNDARY42\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n{{secrets.bound}}\r\n--BOUNDARY42--\r\n",
			Options{}, errcode.InvalidPlaceholder, "bound", "body at byte 58"},
		{"newline in multipart part header", inBody("multipart/form-data; boundary=B", ""),
			"--B\r\nContent-Disposition: form-data; name=\"{{secrets.nl}}\"\r\n\r\nv\r\n--B--\r\n",
			Options{}, errcode.UnsafeHeaderValue, "nl", "body at byte 43"},
		{"multipart without boundary", inBody("multipart/form-data", ""), "x {{secrets.plain}}", Options{}, errcode.InvalidPlaceholder, "", "body"},
		{"brotli body", inBody("application/json", "br"), `{}`, Options{}, errcode.UnsupportedContentEncoding, "", "body"},
		{"deflate body", inBody("text/plain", "deflate"), `x`, Options{}, errcode.UnsupportedContentEncoding, "", "body"},
		{"gzip twice", inBody("text/plain", "gzip, gzip"), `x`, Options{}, errcode.UnsupportedContentEncoding, "", "body"},
		{"corrupt gzip", inBody("text/plain", "gzip"), `not gzip`, Options{}, errcode.UnsupportedContentEncoding, "", "body"},
		{"gzip bomb", inBody("text/plain", "gzip"), string(bomb), Options{MaxBodySize: 1 << 20}, errcode.BodyTooLarge, "", "body"},
		{"rewritten body too large", inBody("text/plain", ""), strings.Repeat("{{secrets.cfg}}", 100), Options{MaxBodySize: 4096}, errcode.BodyTooLarge, "", "body"},
		{"short nonce", inHeader, "no placeholder", Options{Nonce: "short"}, errcode.InvalidPlaceholder, "", "header Sidekey-Nonce"},
		{"nonce with bad characters", inBody("text/plain", ""), "x", Options{Nonce: "0123456789abcdef:"}, errcode.InvalidPlaceholder, "", "header Sidekey-Nonce"},
		{"strict: malformed with the nonce", inHeader, "{{N0nce-0123456789abc:secrets.plain|}}", Options{Nonce: "N0nce-0123456789abc"}, errcode.InvalidPlaceholder, "plain", "header"},
		{"strict: space after the nonce", inHeader, "{{N0nce-0123456789abc: secrets.plain}}", Options{Nonce: "N0nce-0123456789abc"}, errcode.InvalidPlaceholder, "", "header"},
		{"strict: unknown alias", inHeader, "{{ N0nce-0123456789abc:secrets.missing }}", Options{Nonce: "N0nce-0123456789abc"}, errcode.SecretNotFound, "missing", "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := rewriter(t, newResolver(), tt.opts)
			in := []byte(tt.in)
			out, err := tt.part(w, in)
			if codeOf(err) != tt.code {
				t.Fatalf("error = %v, want code %s", err, tt.code)
			}
			assertNoValue(t, err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not an *Error: %T", err)
			}
			if e.Alias != tt.alias {
				t.Errorf("Alias = %q, want %q", e.Alias, tt.alias)
			}
			if tt.loc != "" && e.Location != tt.loc {
				t.Errorf("Location = %q, want %q", e.Location, tt.loc)
			}
			if e.Location == "" {
				t.Errorf("error names no location")
			}
			if !sameSlice(out, in) {
				t.Errorf("a failed rewrite returned something else than its input")
			}
			if tt.code == errcode.SecretNotFound && !errors.Is(err, secret.ErrNotFound) {
				t.Errorf("error does not wrap secret.ErrNotFound")
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Code: errcode.FieldNotFound, Alias: "cfg", Location: "header X", Detail: "no field \"a\""}
	if got, want := e.Error(), `field_not_found in header X (alias "cfg"): no field "a"`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

// TestManyPlaceholders checks a body with many placeholders (the dedup of
// injections switches to a map) and that each distinct value is recorded
// once.
func TestManyPlaceholders(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 200; i++ {
		// 40 distinct placeholder texts, each used 5 times.
		b.WriteString("{{" + strings.Repeat(" ", i%40) + "secrets.plain}} ")
	}
	w := rewriter(t, newResolver(), Options{})
	out, err := w.Body([]byte(b.String()), []byte("text/plain"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(out), valPlain); got != 200 {
		t.Fatalf("%d of 200 values injected", got)
	}
	if got := w.Replaced(); got != 200 {
		t.Fatalf("Replaced() = %d, want 200", got)
	}
	if got := len(w.Injected()); got != 40 {
		t.Fatalf("Injected() has %d entries, want 40", got)
	}
}

// TestReleaseWipes checks that the buffers a pooled Rewriter keeps hold no
// value after Release.
func TestReleaseWipes(t *testing.T) {
	w := NewRewriter(t.Context(), newResolver(), Options{Host: "api.example.com"})
	if _, err := w.Body([]byte(`{"a":"{{secrets.weird}}"}`), []byte("application/json"), nil); err != nil {
		t.Fatal(err)
	}
	bufs := [][]byte{w.scratch[:cap(w.scratch)], w.val[:cap(w.val)], w.arena[:cap(w.arena)], w.tmp[:cap(w.tmp)]}
	w.Release()
	for i, b := range bufs {
		if bytes.Contains(b, []byte("ird")) {
			t.Fatalf("buffer %d still holds the value after Release", i)
		}
	}
}

// TestConcurrentRewriters runs pooled Rewriters from many goroutines (for
// the race detector) and checks each one's result.
func TestConcurrentRewriters(t *testing.T) {
	r := newResolver()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 200; n++ {
				w := NewRewriter(context.Background(), r, Options{Host: "api.example.com"})
				out, err := w.HeaderValue([]byte("Bearer {{secrets.plain}}"))
				if err == nil && string(out) != "Bearer "+valPlain {
					err = errors.New("wrong value")
				}
				inj := w.Injected()
				w.Release()
				if err == nil && (len(inj) != 1 || string(inj[0].Value) != valPlain) {
					err = errors.New("wrong injections")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
