// Package ui is the admin web UI of SPEC §5: the Secrets section of Domain
// Settings and the Macro Manager's Secrets category. It is a small static
// page (HTML, CSS and JavaScript, no build step) embedded into the binary;
// the page talks to the admin API under /v1 with a Bearer token, which it
// keeps in the tab's session storage only. The token comes from the
// OpenID Connect provider the API trusts (authorization code flow with
// PKCE, GET /v1/auth/config says how) or, without one, is pasted in.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the policy the page is written for: scripts,
// styles and fetches from the page's own origin only, no inline code, no
// framing. Handler sets it on every response; the admin API may set the same.
// With Config.ConnectSources, connect-src also names those origins (the
// identity provider's token endpoint).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; font-src 'self'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// Config configures the handler.
type Config struct {
	// ConnectSources, when set, returns origins (scheme://host[:port]) the
	// page may fetch besides its own: the identity provider's token
	// endpoint. It is called per page load; anything that is not a plain
	// http(s) origin is left out.
	ConnectSources func() []string
}

// policy returns the CSP with the extra connect-src origins.
func (c Config) policy() string {
	if c.ConnectSources == nil {
		return ContentSecurityPolicy
	}
	extra := ""
	for _, o := range c.ConnectSources() {
		if plainOrigin(o) {
			extra += " " + o
		}
	}
	if extra == "" {
		return ContentSecurityPolicy
	}
	return strings.Replace(ContentSecurityPolicy, "connect-src 'self'", "connect-src 'self'"+extra, 1)
}

// plainOrigin accepts http(s)://host[:port] with no character that could
// end or extend a CSP source.
func plainOrigin(o string) bool {
	rest, ok := strings.CutPrefix(o, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(o, "http://"); !ok {
			return false
		}
	}
	if rest == "" {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return false
		}
	}
	return true
}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assetFiles maps a request path to the file served for it. Only these paths
// exist; every other path is 404, so the UI never shadows an API route.
var assetFiles = map[string]struct{ file, contentType string }{
	"/":                    {"index.html", "text/html; charset=utf-8"},
	"/index.html":          {"index.html", "text/html; charset=utf-8"},
	"/assets/app.js":       {"app.js", "text/javascript; charset=utf-8"},
	"/assets/jsoncheck.js": {"jsoncheck.js", "text/javascript; charset=utf-8"},
	"/assets/oidc.js":      {"oidc.js", "text/javascript; charset=utf-8"},
	"/assets/app.css":      {"app.css", "text/css; charset=utf-8"},
	"/assets/icon.svg":     {"icon.svg", "image/svg+xml"},
}

// Handler serves the page at "/" and its assets under "/assets/" with the
// strict ContentSecurityPolicy. Mount it at "/" after the API routes. It
// answers GET and HEAD only.
func Handler() http.Handler { return New(Config{}) }

// New is Handler with a configuration.
func New(cfg Config) http.Handler {
	files := make(map[string]asset, len(assetFiles))
	for p, f := range assetFiles {
		body, err := fs.ReadFile(static, path.Join("static", f.file))
		if err != nil {
			// The embed directive guarantees the files; a missing one is a
			// build mistake that the package tests catch.
			continue
		}
		sum := sha256.Sum256(body)
		files[p] = asset{body: body, contentType: f.contentType, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	}
	// No Last-Modified: the ETag (a hash of the content) and no-cache make
	// browsers revalidate and pick up a new version after an upgrade.
	var modTime time.Time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[r.URL.Path]
		h := w.Header()
		h.Set("Content-Security-Policy", cfg.policy())
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, "", modTime, bytes.NewReader(a.body))
	})
}
