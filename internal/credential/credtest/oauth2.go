package credtest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
)

// OAuth2Server is a client-credentials token endpoint (RFC 6749 §4.4) over
// TLS. It checks the client's id and secret (HTTP Basic or form body, as
// the client's auth style says), the grant type, and records the scope and
// audience it was asked for. It checks with net/http's own parsing, not
// the x/oauth2 code that produced the request.
type OAuth2Server struct {
	*httptest.Server
	ClientID, ClientSecret string
	ExpiresIn              int

	exchanges atomic.Int64
	mu        sync.Mutex
	lastScope string
	lastAud   string
	lastStyle string
}

// NewOAuth2Server starts the endpoint.
func NewOAuth2Server(clientID, clientSecret string, expiresIn int) *OAuth2Server {
	s := &OAuth2Server{ClientID: clientID, ClientSecret: clientSecret, ExpiresIn: expiresIn}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// Exchanges is the number of tokens issued.
func (s *OAuth2Server) Exchanges() int64 { return s.exchanges.Load() }

// Last returns the scope, audience and client auth style ("header" or
// "body") of the last successful exchange.
func (s *OAuth2Server) Last() (scope, audience, style string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastScope, s.lastAud, s.lastStyle
}

func (s *OAuth2Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	style := "body"
	id, secret, ok := r.BasicAuth()
	if ok {
		style = "header"
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"endpoint body invalid_client"}`))
		return
	}
	s.mu.Lock()
	s.lastScope, s.lastAud, s.lastStyle = r.PostForm.Get("scope"), r.PostForm.Get("audience"), style
	s.mu.Unlock()
	s.exchanges.Add(1)
	writeJSON(w, map[string]any{"access_token": "cc-test-" + randomHex(16), "token_type": "Bearer", "expires_in": s.ExpiresIn})
}
