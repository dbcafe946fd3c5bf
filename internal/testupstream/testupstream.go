// Package testupstream is the origin server that Sidekey's tests, demo and
// benchmark put behind the proxy: an HTTP server on loopback, TLS with a
// certificate of its own throw-away CA (or of one the caller passes), or
// plain. It records every request exactly as it arrived and counts the
// placeholders ("{{") that reached it, which must be none. By default it
// answers with the request it received as JSON, so a test sees both what
// was injected upstream and what the proxy scrubbed from the echo.
package testupstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/ca"
)

// Defaults of Options.
const (
	DefaultMaxBody  = 16 << 20
	DefaultKeep     = 256
	DefaultValidity = 24 * time.Hour
)

// DefaultHosts are the names on the server certificate unless Options.Hosts
// says otherwise.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// Handler answers a request whose body (up to Options.MaxBody) has been
// read; the request has already been recorded.
type Handler func(w http.ResponseWriter, r *http.Request, body []byte)

// Options configure a Server. The zero value is a TLS echo server with its
// own CA.
type Options struct {
	// Plain serves HTTP without TLS.
	Plain bool
	// Authority signs the server certificate; nil makes a new CA.
	Authority *ca.CA
	// Hosts are the names on the certificate (default DefaultHosts).
	Hosts []string
	// MaxBody bounds the request body read and recorded (default 16 MiB).
	MaxBody int64
	// Keep is how many of the latest requests are kept (default 256).
	Keep int
	// Handle answers each request; nil echoes it as JSON.
	Handle Handler
	// Log, if set, receives each request as one JSON line.
	Log io.Writer
}

// Request is one request as the upstream received it.
type Request struct {
	Method string `json:"method"`
	URI    string `json:"uri"`
	Host   string `json:"host"`
	// Headers holds the first value of each header, by canonical name.
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	// Header is every header value.
	Header http.Header `json:"-"`
}

// Server is a running upstream.
type Server struct {
	opts   Options
	ln     net.Listener
	srv    *http.Server
	caPEM  []byte
	scheme string
	done   chan struct{}

	requests     atomic.Int64
	placeholders atomic.Int64
	mu           sync.Mutex
	kept         []Request
	logMu        sync.Mutex
}

// New listens on addr (host:port; port 0 picks one) and serves in the
// background until Close.
func New(addr string, o Options) (*Server, error) {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeep
	}
	s := &Server{opts: o, scheme: "http", done: make(chan struct{})}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testupstream: listen: %w", err)
	}
	if !o.Plain {
		cfg, caPEM, err := TLSConfig(o.Authority, o.Hosts)
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		s.caPEM, s.scheme = caPEM, "https"
		ln = tls.NewListener(ln, cfg)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          quietLog(),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "testupstream: serve:", err)
		}
	}()
	return s, nil
}

// Start starts a Server on a free loopback port, closed when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TLSConfig returns a server TLS configuration with a certificate for hosts
// (default DefaultHosts) signed by authority, or by a new throw-away CA if
// authority is nil, and the signing CA's certificate in PEM.
func TLSConfig(authority *ca.CA, hosts []string) (*tls.Config, []byte, error) {
	if authority == nil {
		var err error
		if authority, err = ca.New("Sidekey test upstream CA", DefaultValidity); err != nil {
			return nil, nil, fmt.Errorf("testupstream: %w", err)
		}
	}
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	leaf, err := authority.IssueHosts(hosts, time.Now(), DefaultValidity)
	if err != nil {
		return nil, nil, fmt.Errorf("testupstream: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		Certificates: []tls.Certificate{*leaf},
	}, authority.CertPEM(), nil
}

// URL is the server's base URL, e.g. https://127.0.0.1:PORT.
func (s *Server) URL() string { return s.scheme + "://" + s.ln.Addr().String() }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CAPEM is the certificate that signed the server's, in PEM (nil if Plain).
func (s *Server) CAPEM() []byte { return s.caPEM }

// Close stops the server at once, closing open connections.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// Shutdown stops the server gracefully, waiting for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// Count is the number of requests received.
func (s *Server) Count() int64 { return s.requests.Load() }

// Placeholders is the number of "{{" that reached the server in request
// lines, headers and bodies.
func (s *Server) Placeholders() int64 { return s.placeholders.Load() }

// Requests returns the kept requests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.kept...)
}

// Last returns the latest request, and false if none arrived yet.
func (s *Server) Last() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kept) == 0 {
		return Request{}, false
	}
	return s.kept[len(s.kept)-1], true
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	got := record(r, body)
	if n := countPlaceholders(r, body); n > 0 {
		s.placeholders.Add(int64(n))
	}
	s.keep(got)
	if s.opts.Log != nil {
		s.log(got)
	}
	if s.opts.Handle != nil {
		s.opts.Handle(w, r, body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(got)
}

func record(r *http.Request, body []byte) Request {
	got := Request{
		Method: r.Method, URI: r.RequestURI, Host: r.Host,
		Headers: make(map[string]string, len(r.Header)), Header: r.Header.Clone(), Body: string(body),
	}
	for k := range r.Header {
		got.Headers[k] = r.Header.Get(k)
	}
	return got
}

func (s *Server) keep(got Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kept) >= s.opts.Keep {
		s.kept = append(s.kept[:0], s.kept[1:]...)
	}
	s.kept = append(s.kept, got)
}

func (s *Server) log(got Request) {
	line, err := json.Marshal(got)
	if err != nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	_, _ = s.opts.Log.Write(append(line, '\n'))
}

var open = []byte("{{")

// CountPlaceholders counts the "{{" sequences in each of parts.
func CountPlaceholders(parts ...[]byte) int {
	n := 0
	for _, p := range parts {
		n += bytes.Count(p, open)
	}
	return n
}

func countPlaceholders(r *http.Request, body []byte) int {
	n := strings.Count(r.RequestURI, "{{") + CountPlaceholders(body)
	for _, vs := range r.Header {
		for _, v := range vs {
			n += strings.Count(v, "{{")
		}
	}
	return n
}
