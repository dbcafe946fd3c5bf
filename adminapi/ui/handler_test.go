package ui_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/adminapi/ui"
)

// serve runs one request through h and returns the recorded response.
func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestHandlerServesThePageAndAssets(t *testing.T) {
	h := ui.Handler()
	tests := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", "<title>"},
		{"/index.html", "text/html; charset=utf-8", "<title>"},
		{"/assets/app.js", "text/javascript; charset=utf-8", "sessionStorage"},
		{"/assets/jsoncheck.js", "text/javascript; charset=utf-8", "export function checkObject"},
		{"/assets/app.css", "text/css; charset=utf-8", ".drawer"},
		{"/assets/icon.svg", "image/svg+xml", "<svg"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := serve(h, http.MethodGet, tc.path)
			b := resp.Body.String()
			if resp.Code != http.StatusOK {
				t.Fatalf("status = %d", resp.Code)
			}
			if got := resp.Header().Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(b, tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": ui.ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"Cache-Control":           "no-cache",
				"X-Frame-Options":         "DENY",
			} {
				if got := resp.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			etag := resp.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set("If-None-Match", etag)
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotModified {
				t.Errorf("revalidation with the ETag = %d, want 304", rec.Code)
			}
		})
	}
}

func TestHandlerRefusesOtherPathsAndMethods(t *testing.T) {
	h := ui.Handler()
	for _, path := range []string{"/assets/", "/assets/missing.js", "/static/app.js", "/ui.go", "/../go.mod", "/v1/orgs"} {
		if code := serve(h, http.MethodGet, path).Code; code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
	if resp := serve(h, http.MethodHead, "/"); resp.Code != http.StatusOK || resp.Body.Len() != 0 {
		t.Errorf("HEAD / = %d with %d body bytes, want 200 and none", resp.Code, resp.Body.Len())
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		resp := serve(h, m, "/")
		if resp.Code != http.StatusMethodNotAllowed || resp.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s / = %d (Allow %q), want 405 with Allow: GET, HEAD", m, resp.Code, resp.Header().Get("Allow"))
		}
	}
}

// TestPageFitsTheCSP checks what the strict policy would block: inline
// scripts, inline styles and event-handler attributes, and references to
// files that the handler does not serve.
func TestPageFitsTheCSP(t *testing.T) {
	h := ui.Handler()
	page := serve(h, http.MethodGet, "/").Body.String()
	if m := regexp.MustCompile(`<script(?:\s[^>]*)?>`).FindAllString(page, -1); len(m) == 0 {
		t.Fatal("the page loads no script")
	} else {
		for _, tag := range m {
			if !strings.Contains(tag, ` src="/assets/`) {
				t.Errorf("inline script: %s", tag)
			}
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<style[\s>]`),
		regexp.MustCompile(`\sstyle="`),
		regexp.MustCompile(`\son[a-z]+="`),
		regexp.MustCompile(`javascript:`),
	} {
		if loc := bad.FindStringIndex(page); loc != nil {
			t.Errorf("the page has %q, which the CSP blocks", page[loc[0]:loc[1]])
		}
	}
	refs := regexp.MustCompile(`(?:src|href)="(/[^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("found %d asset references, want the script, the style sheet and the icon", len(refs))
	}
	for _, r := range refs {
		if code := serve(h, http.MethodGet, r[1]).Code; code != http.StatusOK {
			t.Errorf("the page references %s, served with %d", r[1], code)
		}
	}
	// Modules import each other by relative path: each import must exist.
	app := serve(h, http.MethodGet, "/assets/app.js").Body.String()
	for _, m := range regexp.MustCompile(`from '\./([^']+)'`).FindAllStringSubmatch(app, -1) {
		if code := serve(h, http.MethodGet, "/assets/"+m[1]).Code; code != http.StatusOK {
			t.Errorf("app.js imports %s, served with %d", m[1], code)
		}
	}
}

// TestScriptsRenderNoHTML keeps the scripts from building markup out of
// strings, the way API data or a value could end up parsed as HTML.
func TestScriptsRenderNoHTML(t *testing.T) {
	h := ui.Handler()
	for _, path := range []string{"/assets/app.js", "/assets/jsoncheck.js", "/assets/oidc.js"} {
		src := serve(h, http.MethodGet, path).Body.String()
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "console.log"} {
			if strings.Contains(src, sink) {
				t.Errorf("%s uses %s", path, sink)
			}
		}
	}
}

// TestConnectSources: the provider's origin joins connect-src; anything
// that is not a plain origin is left out.
func TestConnectSources(t *testing.T) {
	origins := []string{"https://id.example.com", "http://127.0.0.1:5556", "https://x.example.com; script-src *",
		"javascript:alert(1)", "https://a b", "https://"}
	h := ui.New(ui.Config{ConnectSources: func() []string { return origins }})
	csp := serve(h, http.MethodGet, "/").Header().Get("Content-Security-Policy")
	want := strings.Replace(ui.ContentSecurityPolicy, "connect-src 'self'", "connect-src 'self' https://id.example.com http://127.0.0.1:5556", 1)
	if csp != want {
		t.Fatalf("CSP = %q, want %q", csp, want)
	}
	none := ui.New(ui.Config{ConnectSources: func() []string { return nil }})
	if got := serve(none, http.MethodGet, "/").Header().Get("Content-Security-Policy"); got != ui.ContentSecurityPolicy {
		t.Fatalf("CSP without origins = %q", got)
	}
}
