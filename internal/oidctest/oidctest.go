// Package oidctest runs a real OpenID Connect provider for tests: bin/oidcdev
// (built by `make oidcdev`), the example provider of github.com/zitadel/oidc
// with users, one public client, signing keys and key rotation. Tokens come
// from it through its real endpoints: Login drives the authorization code
// flow with PKCE over HTTP, through the provider's login form.
//
// The binary is found in the repository's bin/ (walking up from the test's
// directory) or at $SIDEKEY_OIDCDEV. A missing binary fails the test: run
// `make oidcdev`.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/sidekey/sidekey/internal/ca"

	"github.com/sidekey/sidekey/internal/testbin"
)

// EnvBinary names the environment variable that overrides the path of the
// oidcdev binary.
const EnvBinary = "SIDEKEY_OIDCDEV"

const (
	readyPrefix  = "oidcdev: issuer "
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	callTimeout  = 10 * time.Second
	// DefaultClientID is the client id of the provider's public client.
	DefaultClientID = "sidekey-admin"
	// redirectURI is the redirect URI Login uses; the provider matches
	// loopback redirect URIs on any port.
	redirectURI = "http://127.0.0.1/callback"
)

// User is one account of the provider. Claims are added to its ID tokens.
type User struct {
	ID       string         `json:"id"`
	Username string         `json:"username"`
	Password string         `json:"password"`
	Email    string         `json:"email,omitempty"`
	Claims   map[string]any `json:"claims,omitempty"`
}

// Options configure a provider.
type Options struct {
	// Users are the accounts.
	Users []User
	// ClientID is the public client's id (default DefaultClientID).
	ClientID string
	// RedirectURIs and PostLogoutRedirectURIs of the client, besides the
	// one Login uses. Loopback URIs match any port.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// TLS serves https with a certificate of a CA of the test's own (see
	// Provider.CAFile and Provider.RootCAs).
	TLS bool
}

// Provider is one oidcdev process.
type Provider struct {
	// Issuer is http://127.0.0.1:PORT; it stays the same across Stop and
	// Start.
	Issuer string
	// ClientID is the public client's id.
	ClientID string
	// Key is the provider's first signing key; KeyID is its kid. Tests sign
	// forged tokens with it.
	Key   *rsa.PrivateKey
	KeyID string
	// CAFile is the PEM file of the CA of the provider's certificate and
	// RootCAs a pool of it (with Options.TLS; else empty and nil).
	CAFile  string
	RootCAs *x509.CertPool

	bin  string
	args []string
	addr string

	mu   sync.Mutex
	proc *testbin.Proc // nil when stopped
}

// New prepares a provider on a free loopback port without starting it (see
// Start); it is stopped when the test ends.
func New(t testing.TB, opts Options) *Provider {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := testbin.WriteFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	b, err := json.Marshal(opts.Users) // #nosec G117 -- test users of the dev provider, written to its users file
	if err != nil {
		t.Fatal(err)
	}
	usersFile := testbin.WriteFile(t, dir, "users.json", string(b))
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	addr := testbin.FreeHostPort(t)
	args := []string{"-listen", addr, "-users", usersFile, "-client-id", opts.ClientID,
		"-key-file", keyFile, "-redirect-uri", redirectURI}
	scheme, caFile, pool := "http", "", (*x509.CertPool)(nil)
	if opts.TLS {
		scheme = "https"
		caFile, pool = writeTLS(t, dir)
		args = append(args, "-tls-cert", filepath.Join(dir, "tls.crt"), "-tls-key", filepath.Join(dir, "tls.key"))
	}
	for _, u := range opts.RedirectURIs {
		args = append(args, "-redirect-uri", u)
	}
	for _, u := range opts.PostLogoutRedirectURIs {
		args = append(args, "-post-logout-redirect-uri", u)
	}
	p := &Provider{
		Issuer: scheme + "://" + addr, ClientID: opts.ClientID, Key: key, KeyID: kidOf(t, &key.PublicKey),
		CAFile: caFile, RootCAs: pool,
		bin: bin, args: args, addr: addr,
	}
	t.Cleanup(p.stop)
	return p
}

// writeTLS writes a CA (ca.crt) and a certificate for 127.0.0.1 (tls.crt,
// tls.key) into dir and returns the CA file and a pool of it.
func writeTLS(t testing.TB, dir string) (string, *x509.CertPool) {
	t.Helper()
	authority, err := ca.New("oidctest CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := authority.IssueHosts([]string{"127.0.0.1", "localhost"}, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for _, der := range leaf.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	for name, b := range map[string][]byte{
		"ca.crt":  authority.CertPEM(),
		"tls.crt": chain,
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(authority.CertPEM())
	return caFile, pool
}

// httpClient returns a client of the provider (trusting its CA).
func (p *Provider) httpClient() *http.Client {
	c := &http.Client{Timeout: callTimeout}
	if p.RootCAs != nil {
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.RootCAs, MinVersion: tls.VersionTLS12}}
	}
	return c
}

// Start starts a provider for this test; it is stopped when the test ends.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	p := New(t, opts)
	p.Start(t)
	return p
}

// Binary returns the path of the oidcdev binary: $SIDEKEY_OIDCDEV, else
// bin/oidcdev in the nearest directory above the working directory that has
// one.
func Binary() (string, error) {
	p, err := testbin.DevBinary(EnvBinary, "oidcdev", "oidcdev")
	if err != nil {
		return "", fmt.Errorf("oidctest: %w", err)
	}
	return p, nil
}

// kidOf is oidcdev's kid of a public key: hex SHA-256 of its PKIX form,
// cut to 16 bytes.
func kidOf(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:16])
}

// Start starts the process (again, after Stop) on the provider's address
// and waits until it serves discovery.
func (p *Provider) Start(t testing.TB) {
	t.Helper()
	var err error
	// The port was free a moment ago; another process may take it in
	// between, so try a few times.
	for attempt := 0; attempt < 5; attempt++ {
		if err = p.start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
}

func (p *Provider) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		return errors.New("already running")
	}
	cmd := exec.Command(p.bin, p.args...) //nolint:gosec // test helper: runs the repository's bin/oidcdev or $SIDEKEY_OIDCDEV
	proc, _, err := testbin.StartReady("oidcdev", cmd, readyPrefix, startTimeout)
	if err != nil {
		return err
	}
	p.proc = proc
	return nil
}

// Stop stops the process; the address stays the provider's for Start.
func (p *Provider) Stop(t testing.TB) {
	t.Helper()
	p.stop()
}

func (p *Provider) stop() {
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	if proc != nil {
		proc.Stop(syscall.SIGTERM, stopTimeout)
	}
}

// Rotate makes a new key of alg ("RS256" or "ES256") the signing key at the
// provider; the previous keys stay published. It returns the new kid.
func (p *Provider) Rotate(t testing.TB, alg string) string {
	t.Helper()
	var out struct {
		KID string `json:"kid"`
	}
	p.post(t, "/_dev/rotate?alg="+url.QueryEscape(alg), &out)
	return out.KID
}

// Retire stops publishing every key but the signing one.
func (p *Provider) Retire(t testing.TB) {
	t.Helper()
	p.post(t, "/_dev/retire", nil)
}

func (p *Provider) post(t testing.TB, path string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.httpClient().Do(req)
	if err != nil {
		t.Fatalf("oidctest: POST %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("oidctest: POST %s: %s %s", path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("oidctest: POST %s: %v", path, err)
		}
	}
}

// Login signs username in through the provider's login form and returns
// the ID token of the authorization code flow with PKCE, driven over HTTP
// as a browser would.
func (p *Provider) Login(t testing.TB, username, password string) string {
	t.Helper()
	tok, err := p.login(username, password)
	if err != nil {
		t.Fatalf("oidctest: login %s: %v", username, err)
	}
	return tok
}

func (p *Provider) login(username, password string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", err
	}
	client := p.httpClient()
	client.Jar = jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	conf := &oauth2.Config{
		ClientID:    p.ClientID,
		RedirectURL: redirectURI,
		Scopes:      []string{"openid", "profile", "email"},
		Endpoint: oauth2.Endpoint{
			AuthURL: p.Issuer + "/auth", TokenURL: p.Issuer + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	verifier := oauth2.GenerateVerifier()
	state := oauth2.GenerateVerifier()
	loc, err := redirectOf(ctx, client, http.MethodGet, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), nil)
	if err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	id := loc.Query().Get("authRequestID")
	if id == "" {
		return "", fmt.Errorf("authorize redirected to %s, not to the login page", loc.Path)
	}
	form := url.Values{"id": {id}, "username": {username}, "password": {password}}
	loc, err = redirectOf(ctx, client, http.MethodPost, p.Issuer+"/login/username", form)
	if err != nil {
		return "", fmt.Errorf("login form: %w", err)
	}
	for i := 0; loc.Query().Get("code") == "" && i < 5; i++ {
		if loc, err = redirectOf(ctx, client, http.MethodGet, p.resolve(loc), nil); err != nil {
			return "", fmt.Errorf("callback: %w", err)
		}
	}
	if loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		return "", errors.New("the provider did not redirect back with a code and the state")
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.httpClient()), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		return "", errors.New("the token response has no id_token")
	}
	return idToken, nil
}

func (p *Provider) resolve(u *url.URL) string {
	base, _ := url.Parse(p.Issuer)
	return base.ResolveReference(u).String()
}

// redirectOf sends one request and returns where its 3xx answer points.
func redirectOf(ctx context.Context, c *http.Client, method, target string, form url.Values) (*url.URL, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return nil, fmt.Errorf("%s %s: %s, want a redirect: %.200s", method, req.URL.Path, resp.Status, b)
	}
	return resp.Location()
}

// Forge signs claims with the provider's first key and kid, for tokens the
// provider would not issue (expired, another audience, another issuer).
// Unset iss, aud, sub, iat and exp take the provider's usual values.
func (p *Provider) Forge(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{
		"iss": p.Issuer, "aud": []string{p.ClientID}, "sub": "forged",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = p.KeyID
	s, err := tok.SignedString(p.Key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
