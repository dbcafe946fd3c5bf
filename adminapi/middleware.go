package adminapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/errcode"
)

// Security headers. The UI handler may replace the UI policy with its own
// by setting Content-Security-Policy itself.
const (
	apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
	uiCSP  = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
		"form-action 'self'; frame-ancestors 'none'"
)

const (
	headerRequestID = "X-Request-Id"
	maxRequestIDLen = 128
)

type ctxKey int

const requestIDKey ctxKey = 0

// requestID returns the request's id, or "".
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// validRequestID accepts a caller's X-Request-Id of 1-128 of [A-Za-z0-9._:-].
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

// responseWriter records what a handler answered, for metrics, the access
// log and the audit line.
type responseWriter struct {
	http.ResponseWriter
	status int
	// code is the error code written by writeError, "" on success.
	code errcode.Code
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP wraps the router: request id, security headers, CORS, panic
// recovery, metrics and the access log.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := r.Header.Get(headerRequestID)
	if !validRequestID(rid) {
		rid = newRequestID()
	}
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey, rid))
	rw := &responseWriter{ResponseWriter: w}
	h := rw.Header()
	h.Set(headerRequestID, rid)
	setSecurityHeaders(h, r.URL.Path)

	s.metrics.inFlight.Inc()
	defer func() {
		s.metrics.inFlight.Dec()
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does.
				panic(v)
			}
			// The panic value is not logged: it might hold request data.
			s.log.Error("handler panic", zap.String("request_id", rid),
				zap.String("panic_type", fmt.Sprintf("%T", v)), zap.StackSkip("stack", 1))
			if rw.status == 0 {
				s.writeError(rw, r, newError(errcode.Internal, "internal error"))
			}
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())
		if ce := s.log.Check(zap.InfoLevel, "request"); ce != nil {
			ce.Write(zap.String("request_id", rid), zap.String("method", r.Method),
				zap.String("route", route), zap.Int("status", status),
				zap.String("code", string(rw.code)), zap.Duration("duration", elapsed))
		}
	}()

	if s.handleCORS(rw, r) {
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// isAPIPath reports whether path is served by the API rather than the UI.
func isAPIPath(path string) bool {
	return strings.HasPrefix(path, "/v1/") || path == "/v1" || path == "/healthz" || path == "/readyz"
}

func setSecurityHeaders(h http.Header, path string) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if isAPIPath(path) {
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", apiCSP)
		return
	}
	h.Set("Content-Security-Policy", uiCSP)
}

// CORS settings for allowed origins. No credentials: the API takes bearer
// tokens, not cookies.
const (
	corsMethods = "GET, POST, PUT, DELETE"
	corsHeaders = "Authorization, Content-Type, X-Request-Id"
	corsMaxAge  = "600"
)

// handleCORS adds CORS headers for an allowed Origin and answers its
// preflight. It reports whether the request was answered. With no origins
// configured it does nothing: browsers then refuse cross-origin calls.
func (s *Server) handleCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if len(s.corsOrigins) == 0 || origin == "" || !isAPIPath(r.URL.Path) {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if !slices.Contains(s.corsOrigins, origin) && !slices.Contains(s.corsOrigins, "*") {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", headerRequestID)
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}
