// Package vaulttest runs a real dev Vault (bin/vaultdev, built by `make
// vault`) for tests: Start gives each test its own server on a free loopback
// port, Shared one server per test binary. Servers started by Start keep
// their data in a temporary directory, so Stop, Kill and Restart behave like
// an outage of a real Vault: the secrets are there again after it.
//
// The binary is found in the repository's bin/ (walking up from the test's
// directory) or at $SIDEKEY_VAULTDEV. A missing binary fails the test: run
// `make vault`.
package vaulttest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/sidekey/sidekey/internal/testbin"
)

// EnvBinary names the environment variable that overrides the path of the
// vaultdev binary.
const EnvBinary = "SIDEKEY_VAULTDEV"

// EnvAddr and EnvToken, when both are set, make Shared use that running
// Vault (KV v2 at secret/, AppRole at approle/, a root token) instead of
// starting one; Start still starts servers of its own.
const (
	EnvAddr  = "SIDEKEY_VAULTTEST_ADDR"
	EnvToken = "SIDEKEY_VAULTTEST_TOKEN" //nolint:gosec // the name of a variable, not a credential
)

const (
	readyPrefix  = "vaultdev: ready addr="
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
	adminPolicy  = "sidekey-admin"
	sidePolicy   = "sidekey-sidecar"
)

// Server is one running dev Vault.
type Server struct {
	// Addr is the server's URL, http://127.0.0.1:PORT. It stays the same
	// across Restart.
	Addr string
	// RootToken is a root token of this server.
	RootToken string

	bin     string
	dataDir string // empty: in memory (Shared)
	shared  bool

	mu   sync.Mutex
	proc *testbin.Proc // the running binary; nil when stopped
	seq  atomic.Int64
}

// Start starts a dev Vault for this test on a free loopback port and stops
// it (and removes its data) when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, dataDir: t.TempDir(), RootToken: randomToken()}
	if err := s.start("127.0.0.1:0"); err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	return s
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns one in-memory dev Vault for the whole test binary, started
// on first use; it dies with the test process. Tests that share it must use
// tenants of their own, and must not Stop, Kill or Restart it. With
// SIDEKEY_VAULTTEST_ADDR and SIDEKEY_VAULTTEST_TOKEN set it is that Vault.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		if addr, tok := os.Getenv(EnvAddr), os.Getenv(EnvToken); addr != "" && tok != "" {
			shared.srv = &Server{Addr: addr, RootToken: tok, shared: true}
			return
		}
		bin, err := Binary()
		if err != nil {
			shared.err = err
			return
		}
		s := &Server{bin: bin, shared: true, RootToken: randomToken()}
		if err := s.start("127.0.0.1:0"); err != nil {
			shared.err = fmt.Errorf("vaulttest: %w", err)
			return
		}
		shared.srv = s
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// Binary returns the path of the vaultdev binary: $SIDEKEY_VAULTDEV, else
// bin/vaultdev in the nearest directory above the working directory that has
// one.
func Binary() (string, error) {
	p, err := testbin.DevBinary(EnvBinary, "vaultdev", "vault")
	if err != nil {
		return "", fmt.Errorf("vaulttest: %w", err)
	}
	return p, nil
}

// start runs the binary on listen and waits for its ready line.
func (s *Server) start(listen string) error {
	args := []string{"-listen", listen, "-root-token", s.RootToken}
	if s.dataDir != "" {
		args = append(args, "-data-dir", s.dataDir)
	}
	cmd := exec.Command(s.bin, args...) //nolint:gosec // test helper: runs the repository's bin/vaultdev or $SIDEKEY_VAULTDEV
	p, addr, err := testbin.StartReady("vaultdev", cmd, readyPrefix, startTimeout)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.Addr = addr
	s.mu.Unlock()
	return nil
}

// stop signals the running process and waits for it, killing it after
// stopTimeout. It does nothing when the server is not running.
func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.Stop(sig, stopTimeout)
	}
}

// Stop stops the server gracefully (SIGTERM). Its data is kept for Restart.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mustOwn(t, "Stop")
	s.stop(syscall.SIGTERM)
}

// Kill stops the server at once (SIGKILL), like a crash. Its data is kept
// for Restart.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.mustOwn(t, "Kill")
	s.stop(syscall.SIGKILL)
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Restart stops the server if it runs and starts it again on the same
// address with the same data, tokens and policies (unsealed).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mustOwn(t, "Restart")
	s.stop(syscall.SIGTERM)
	u, err := url.Parse(s.Addr)
	if err != nil {
		t.Fatalf("vaulttest: parse address: %v", err)
	}
	// The port was free a moment ago; another process may take it between
	// the stop and the start, so try a few times.
	for attempt := 0; ; attempt++ {
		err = s.start(u.Host)
		if err == nil || attempt == 4 || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("vaulttest: restart: %v", err)
	}
}

func (s *Server) mustOwn(t testing.TB, op string) {
	t.Helper()
	if s.shared {
		t.Fatalf("vaulttest: %s on the shared server; use vaulttest.Start for a server of the test's own", op)
	}
}

// Client returns a client of the server with the root token.
func (s *Server) Client(t testing.TB) *api.Client {
	t.Helper()
	return s.ClientWithToken(t, s.RootToken)
}

// ClientWithToken returns a client of the server with the given token.
func (s *Server) ClientWithToken(t testing.TB, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("vaulttest: client: %v", err)
	}
	c.SetToken(token)
	return c
}

// Token creates a token with exactly the given policies (no default
// policy), valid for an hour and renewable.
func (s *Server) Token(t testing.TB, policies ...string) string {
	t.Helper()
	return s.TokenTTL(t, time.Hour, policies...)
}

// TokenTTL creates a renewable token with exactly the given policies and
// the given TTL (at least one second).
func (s *Server) TokenTTL(t testing.TB, ttl time.Duration, policies ...string) string {
	t.Helper()
	sec, err := s.Client(t).Auth().Token().Create(&api.TokenCreateRequest{
		Policies:        policies,
		NoDefaultPolicy: true,
		TTL:             ttl.String(),
		Renewable:       ptr(true),
		NoParent:        true,
	})
	if err != nil {
		t.Fatalf("vaulttest: create token: %v", err)
	}
	return sec.Auth.ClientToken
}

// RevokeToken revokes a token.
func (s *Server) RevokeToken(t testing.TB, token string) {
	t.Helper()
	if err := s.Client(t).Auth().Token().RevokeOrphan(token); err != nil {
		t.Fatalf("vaulttest: revoke token: %v", err)
	}
}

// WritePolicy loads an HCL policy file into the server under name.
func (s *Server) WritePolicy(t testing.TB, name, hclPath string) {
	t.Helper()
	rules, err := os.ReadFile(hclPath)
	if err != nil {
		t.Fatalf("vaulttest: read policy: %v", err)
	}
	if err := s.Client(t).Sys().PutPolicy(name, string(rules)); err != nil {
		t.Fatalf("vaulttest: write policy %s: %v", name, err)
	}
}

// AdminPolicy loads deploy/vault/admin.hcl as policy "sidekey-admin" and
// returns the policy's name.
func (s *Server) AdminPolicy(t testing.TB) string {
	t.Helper()
	return s.repoPolicy(t, adminPolicy, "deploy/vault/admin.hcl")
}

// SidecarPolicy loads deploy/vault/sidecar.hcl as policy "sidekey-sidecar"
// and returns the policy's name.
func (s *Server) SidecarPolicy(t testing.TB) string {
	t.Helper()
	return s.repoPolicy(t, sidePolicy, "deploy/vault/sidecar.hcl")
}

func (s *Server) repoPolicy(t testing.TB, name, rel string) string {
	t.Helper()
	p, err := testbin.RepoFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	s.WritePolicy(t, name, p)
	return name
}

// AdminToken returns a token of exactly the admin API's policy
// (deploy/vault/admin.hcl).
func (s *Server) AdminToken(t testing.TB) string {
	t.Helper()
	return s.Token(t, s.AdminPolicy(t))
}

// SidecarToken returns a token of exactly the sidecar's policy
// (deploy/vault/sidecar.hcl).
func (s *Server) SidecarToken(t testing.TB) string {
	t.Helper()
	return s.Token(t, s.SidecarPolicy(t))
}

// AppRole creates an AppRole role whose tokens have exactly the given
// policy, and returns its role id and a new secret id.
func (s *Server) AppRole(t testing.TB, policy string) (roleID, secretID string) {
	t.Helper()
	return s.AppRoleTTL(t, policy, time.Hour)
}

// AppRoleTTL is AppRole with tokens of the given TTL (renewable up to ten
// times that).
func (s *Server) AppRoleTTL(t testing.TB, policy string, ttl time.Duration) (roleID, secretID string) {
	t.Helper()
	c := s.Client(t)
	role := fmt.Sprintf("vaulttest-%d", s.seq.Add(1))
	_, err := c.Logical().Write("auth/approle/role/"+role, map[string]any{
		"token_policies":          []string{policy},
		"token_no_default_policy": true,
		"token_ttl":               int(ttl.Seconds()),
		"token_max_ttl":           int(10 * ttl.Seconds()),
	})
	if err != nil {
		t.Fatalf("vaulttest: write approle role: %v", err)
	}
	sec, err := c.Logical().Read("auth/approle/role/" + role + "/role-id")
	if err != nil || sec == nil {
		t.Fatalf("vaulttest: read role id: %v", err)
	}
	roleID, _ = sec.Data["role_id"].(string)
	sec, err = c.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil || sec == nil {
		t.Fatalf("vaulttest: create secret id: %v", err)
	}
	secretID, _ = sec.Data["secret_id"].(string)
	if roleID == "" || secretID == "" {
		t.Fatal("vaulttest: AppRole answered without role id or secret id")
	}
	return roleID, secretID
}

// HostPort returns the server's host:port.
func (s *Server) HostPort() string {
	u, err := url.Parse(s.Addr)
	if err != nil {
		return ""
	}
	return u.Host
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for tests that need an address where no Vault listens.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "http://" + testbin.FreeHostPort(t)
}

func randomToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "root-" + hex.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }
