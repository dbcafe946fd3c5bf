// Package ui is the admin web UI of SPEC §5: the Secrets section of Domain
// Settings and the Macro Manager's Secrets category. It is a small static
// page (HTML, CSS and JavaScript, no build step) embedded into the binary;
// the page talks to the admin API under /v1 with the Bearer token the admin
// pastes in, which it keeps in the tab's session storage only.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the policy the page is written for: scripts,
// styles and fetches from the page's own origin only, no inline code, no
// framing. Handler sets it on every response; the admin API may set the same.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; font-src 'self'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

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
	"/assets/app.css":      {"app.css", "text/css; charset=utf-8"},
	"/assets/icon.svg":     {"icon.svg", "image/svg+xml"},
}

// Handler serves the page at "/" and its assets under "/assets/". Mount it
// at "/" after the API routes. It answers GET and HEAD only.
func Handler() http.Handler {
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
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
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
