package credtest

import (
	"crypto"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// GoogleTokenServer is a Google-style OAuth2 token endpoint over TLS for the
// JWT-bearer grant. It verifies the assertion's RS256 signature with the
// public key registered under its kid (go-jose), and iss, aud (its own
// URL), scope and exp; then it answers a fresh random access token.
type GoogleTokenServer struct {
	*httptest.Server
	// Email is the service account the assertion must be issued by.
	Email string
	// Scope is the scope the assertion must ask for.
	Scope string
	// ExpiresIn is the lifetime the server grants, in seconds.
	ExpiresIn int

	requests  atomic.Int64
	exchanges atomic.Int64
	refused   atomic.Int64
	audience  string

	mu      sync.Mutex
	keys    map[string]crypto.PublicKey
	issued  map[string]string // token → kid that obtained it
	mode    Mode
	lastKid string
}

// Mode makes a token endpoint misbehave.
type Mode int

// Token endpoint behaviours.
const (
	Normal    Mode = iota
	Status400      // 400 invalid_grant
	Status401      // 401 invalid_client
	Status503      // 503
	Empty          // 200 with an empty access_token
	Malformed      // 200 with a body that is not JSON
)

// NewGoogleTokenServer starts the endpoint; its URL is the token_uri.
func NewGoogleTokenServer(email, scope string, expiresIn int) *GoogleTokenServer {
	return StartGoogleTokenServer(email, scope, expiresIn, nil, "")
}

// StartGoogleTokenServer starts the endpoint with a TLS configuration of
// the caller's (nil: httptest's) and the audience the assertion must name
// ("": the server's URL), for endpoints reached by a host name.
func StartGoogleTokenServer(email, scope string, expiresIn int, tlsCfg *tls.Config, audience string) *GoogleTokenServer {
	s := &GoogleTokenServer{Email: email, Scope: scope, ExpiresIn: expiresIn, audience: audience,
		keys: map[string]crypto.PublicKey{}, issued: map[string]string{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.TLS = tlsCfg
	s.StartTLS()
	return s
}

// SetAudience sets the audience the assertion must name (the token_uri
// the client was given, when it reaches the server by a host name).
func (s *GoogleTokenServer) SetAudience(aud string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audience = aud
}

// NewGoogleTokenServerOn starts the endpoint on a fixed loopback address
// (for the demo's token endpoint).
func NewGoogleTokenServerOn(addr, email, scope string, expiresIn int, tlsCfg *tls.Config, audience string) *GoogleTokenServer {
	s := &GoogleTokenServer{Email: email, Scope: scope, ExpiresIn: expiresIn, audience: audience,
		keys: map[string]crypto.PublicKey{}, issued: map[string]string{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(fmt.Sprintf("credtest: listen %s: %v", addr, err))
	}
	s.Listener.Close() //nolint:errcheck,gosec // replaced by ln
	s.Listener = ln
	s.TLS = tlsCfg
	s.StartTLS()
	return s
}

// ServeHTTP serves one token request (the handler the server runs).
func (s *GoogleTokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r) }

// AddKey makes the server accept assertions signed by key.
func (s *GoogleTokenServer) AddKey(key *RSAKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key.ID] = key.Private.Public()
}

// RevokeKey makes the server refuse assertions signed by the key id.
func (s *GoogleTokenServer) RevokeKey(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, id)
}

// SetMode changes the server's behaviour.
func (s *GoogleTokenServer) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// Exchanges is the number of tokens issued; Refused the assertions refused.
func (s *GoogleTokenServer) Exchanges() int64 { return s.exchanges.Load() }

// Refused is the number of requests answered with an error.
func (s *GoogleTokenServer) Refused() int64 { return s.refused.Load() }

// KeyOf returns the kid whose assertion obtained token ("" when unknown).
func (s *GoogleTokenServer) KeyOf(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued[token]
}

// Requests is the number of requests the endpoint received.
func (s *GoogleTokenServer) Requests() int64 { return s.requests.Load() }

func (s *GoogleTokenServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case Status400:
		s.fail(w, http.StatusBadRequest, "invalid_grant")
		return
	case Status401:
		s.fail(w, http.StatusUnauthorized, "invalid_client")
		return
	case Status503:
		s.fail(w, http.StatusServiceUnavailable, "unavailable")
		return
	case Malformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token": "leaked-partial`))
		return
	case Empty:
		writeJSON(w, map[string]any{"access_token": "", "expires_in": s.ExpiresIn, "token_type": "Bearer"})
		return
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost ||
		r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		s.fail(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	kid, ok := s.verify(r.PostForm.Get("assertion"))
	if !ok {
		s.fail(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	token := "ya29.test-" + randomHex(24)
	s.mu.Lock()
	s.issued[token] = kid
	s.lastKid = kid
	s.mu.Unlock()
	s.exchanges.Add(1)
	writeJSON(w, map[string]any{"access_token": token, "expires_in": s.ExpiresIn, "token_type": "Bearer"})
}

// verify checks the assertion with go-jose and returns its kid.
func (s *GoogleTokenServer) verify(assertion string) (string, bool) {
	tok, err := josejwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return "", false
	}
	kid := tok.Headers[0].KeyID
	s.mu.Lock()
	pub, ok := s.keys[kid]
	s.mu.Unlock()
	if !ok {
		return "", false
	}
	var std josejwt.Claims
	var extra struct {
		Scope string `json:"scope"`
	}
	if err := tok.Claims(pub, &std, &extra); err != nil {
		return "", false
	}
	if std.Expiry == nil || std.IssuedAt == nil || std.Expiry.Time().Sub(std.IssuedAt.Time()) > time.Hour {
		return "", false
	}
	s.mu.Lock()
	aud := s.audience
	s.mu.Unlock()
	if aud == "" {
		aud = s.URL
	}
	if err := std.ValidateWithLeeway(josejwt.Expected{
		Issuer:      s.Email,
		AnyAudience: josejwt.Audience{aud},
		Time:        time.Now(),
	}, time.Minute); err != nil {
		return "", false
	}
	if extra.Scope != s.Scope {
		return "", false
	}
	return kid, true
}

func (s *GoogleTokenServer) fail(w http.ResponseWriter, status int, code string) {
	s.refused.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "endpoint body " + code})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
