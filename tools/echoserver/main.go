// Command echoserver is the demo's upstream: a TLS server on loopback that
// answers every request with the request as it arrived (method, URI, headers,
// body) as JSON, and writes its own CA certificate to a file so the proxy can
// verify it (--upstream-ca). Development and demo use only.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/sidekey/sidekey/internal/ca"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9443", "loopback address to serve TLS on")
	caOut := flag.String("ca-out", "echo-ca.crt", "where to write the certificate that signs the server's")
	logOut := flag.String("log", "", "also append each received request as one JSON line to this file")
	flag.Parse()
	if err := run(*listen, *caOut, *logOut); err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
}

func run(listen, caOut, logOut string) error {
	cert, caPEM, err := selfSigned()
	if err != nil {
		return err
	}
	if err := os.WriteFile(caOut, caPEM, 0o600); err != nil {
		return fmt.Errorf("write CA: %w", err)
	}
	srv := &http.Server{
		Addr:              listen,
		Handler:           &echoHandler{logPath: logOut},
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Printf("echoserver: serving https://%s\n", listen)
	if err := srv.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// received is what the upstream saw.
type received struct {
	Method  string            `json:"method"`
	URI     string            `json:"uri"`
	Host    string            `json:"host"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// echoHandler answers with the request it received.
type echoHandler struct {
	mu      sync.Mutex
	logPath string
}

func (h *echoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	got := received{Method: r.Method, URI: r.RequestURI, Host: r.Host, Headers: map[string]string{}, Body: string(body)}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		got.Headers[k] = r.Header.Get(k)
	}
	if h.logPath != "" {
		h.append(got)
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(got)
}

func (h *echoHandler) append(got received) {
	line, err := json.Marshal(got)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f, err := os.OpenFile(h.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echoserver: log:", err)
		return
	}
	defer func() { _ = f.Close() }()
	_, _ = f.Write(append(line, '\n'))
}

// selfSigned makes a throw-away CA and a leaf for localhost and the
// loopback addresses; it returns the leaf and the CA certificate in PEM.
func selfSigned() (tls.Certificate, []byte, error) {
	authority, err := ca.New("sidekey demo upstream CA", 24*time.Hour)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := authority.IssueHosts([]string{"localhost", "127.0.0.1", "::1"}, time.Now(), 24*time.Hour)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return *leaf, authority.CertPEM(), nil
}
