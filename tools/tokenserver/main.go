// Command tokenserver is a local OAuth2 token endpoint for the demo: it
// generates a service-account key, writes the Google-style key file that
// names it, and serves the JWT-bearer grant over TLS on loopback, checking
// each assertion's RS256 signature, issuer, audience, scope and expiry
// before issuing a short-lived access token. Development only.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/sidekey/sidekey/internal/ca"
	"github.com/sidekey/sidekey/internal/cli"
	"github.com/sidekey/sidekey/internal/credential/credtest"
)

func main() { cli.Run("tokenserver", run) }

func run(ctx context.Context) error {
	listen := flag.String("listen", "127.0.0.1:9444", "loopback address to serve TLS on")
	caOut := flag.String("ca-out", "token-ca.crt", "where to write the certificate that signs the server's")
	keyOut := flag.String("key-out", "service-account.json", "where to write the generated service-account key file")
	email := flag.String("email", "sender@demo-project.iam.gserviceaccount.com", "the service account's client_email")
	scope := flag.String("scope", "https://www.googleapis.com/auth/firebase.messaging", "the scope assertions must ask for")
	expiresIn := flag.Int("expires-in", 3600, "lifetime of issued tokens, seconds")
	flag.Parse()
	host, port, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return errors.New("-listen must be a loopback host:port")
	}
	authority, err := ca.New("Sidekey demo token endpoint CA", 24*time.Hour)
	if err != nil {
		return err
	}
	leaf, err := authority.IssueHosts([]string{"localhost", host}, time.Now(), 24*time.Hour)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*caOut, authority.CertPEM(), 0o600); err != nil {
		return err
	}
	sa, err := credtest.GenerateRSAKey("demo-key-1")
	if err != nil {
		return err
	}
	tokenURI := "https://localhost:" + port + "/token"
	srv := credtest.NewGoogleTokenServerOn(*listen, *email, *scope, *expiresIn, &tls.Config{Certificates: []tls.Certificate{*leaf}, MinVersion: tls.VersionTLS12}, tokenURI)
	defer srv.Close()
	srv.AddKey(sa)
	keyFile, err := credtest.ServiceAccountFile(*email, tokenURI, sa)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*keyOut, keyFile, 0o600); err != nil {
		return err
	}
	fmt.Printf("token endpoint %s (key file %s)\n", tokenURI, *keyOut)
	<-ctx.Done()
	return nil
}

var _ http.Handler = (*credtest.GoogleTokenServer)(nil)
