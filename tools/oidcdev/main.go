// Command oidcdev is an OpenID Connect provider for Sidekey's tests and demo
// on loopback. The protocol side (discovery, authorize, token, JWKS, end
// session, the login page) is github.com/zitadel/oidc's example provider;
// this command adds users with group and tenant claims, a public client for
// the admin UI, signing keys loaded from PEM files, and a key rotation
// endpoint. It is a development tool: it listens on loopback only and keeps
// everything in memory.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "oidcdev: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		listen, usersFile, clientID string
		tlsCert, tlsKey             string
		redirects, logouts, keys    stringList
		idTTL                       time.Duration
	)
	flag.StringVar(&listen, "listen", "127.0.0.1:0", "loopback address to listen on; the issuer is http://ADDR")
	flag.StringVar(&usersFile, "users", "", "JSON file of the users (see users.go)")
	flag.StringVar(&clientID, "client-id", "sidekey-admin", "id of the public client (authorization code with PKCE)")
	flag.Var(&redirects, "redirect-uri", "redirect URI of the client (repeatable; a loopback URI matches any port)")
	flag.Var(&logouts, "post-logout-redirect-uri", "post-logout redirect URI of the client (repeatable)")
	flag.Var(&keys, "key-file", "PEM file of a signing key (RSA 2048+ or EC P-256), repeatable: the first signs, every one is published; none: a new RSA key")
	flag.DurationVar(&idTTL, "id-token-lifetime", 10*time.Minute, "lifetime of ID tokens")
	flag.StringVar(&tlsCert, "tls-cert", "", "PEM certificate chain: serve https (with --tls-key)")
	flag.StringVar(&tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	flag.Parse()

	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("--listen must be a loopback IP address")
	}
	users, err := loadUsers(usersFile)
	if err != nil {
		return err
	}
	ring, err := newKeyRing(keys)
	if err != nil {
		return err
	}
	if (tlsCert == "") != (tlsKey == "") {
		return errors.New("set both --tls-cert and --tls-key, or neither")
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	scheme := "http"
	if tlsCert != "" {
		scheme = "https"
	}
	issuer := scheme + "://" + ln.Addr().String()
	st := &devStorage{
		Storage: storage.NewStorageWithClients(users, map[string]*storage.Client{}),
		users:   users,
		keys:    ring,
		client:  &publicClient{id: clientID, redirects: redirects, logouts: logouts, idTTL: idTTL},
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	router := exampleop.SetupServer(issuer, st, logger, false)

	srv := &http.Server{Handler: devMux(ring, router), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("oidcdev: issuer %s\n", issuer)
	serve := func() error { return srv.Serve(ln) }
	if tlsCert != "" {
		serve = func() error { return srv.ServeTLS(ln, tlsCert, tlsKey) }
	}
	if err := serve(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// devMux serves the provider (router) and the development endpoints that
// rotate and retire its signing keys.
func devMux(ring *keyRing, router http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_dev/rotate", func(w http.ResponseWriter, r *http.Request) {
		kid, err := ring.rotate(r.URL.Query().Get("alg"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]string{"kid": kid})
	})
	mux.HandleFunc("POST /_dev/retire", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"retired": ring.retire()})
	})
	mux.Handle("/", router)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
