package reliability

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/ca"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/testbin"
	"github.com/sidekey/sidekey/internal/testupstream"
	"github.com/sidekey/sidekey/internal/vaulttest"
	"github.com/sidekey/sidekey/vaultstore"
)

// Environment variables that select the long versions (see doc.go).
const (
	envSoakDuration = "SIDEKEY_SOAK_DURATION"
	envSoakOut      = "SIDEKEY_SOAK_OUT"
	envChaosFull    = "SIDEKEY_CHAOS_FULL"
)

// The tenant every test uses (each test has its own Vault).
var tenant = secret.Tenant{Org: "acme", Domain: "alerts"}

var sidekeyBin string

func TestMain(m *testing.M) { testbin.Main(m, "sidekey-reliability-", &sidekeyBin) }

// chaosFull reports whether the long fault versions were asked for.
func chaosFull() bool { return os.Getenv(envChaosFull) == "1" }

// daemon starts a sidekey subcommand for the test (see testbin.Daemon).
func daemon(t testing.TB, name string, args ...string) *testbin.Proc {
	t.Helper()
	return testbin.Daemon(t, name, sidekeyBin, args...)
}

// env is one test's world: its own dev Vault (with a data directory, so it
// can be killed and restarted), keys, the Sidekey CA and a CA for the
// upstreams.
type env struct {
	t         *testing.T
	dir       string
	vault     *vaulttest.Server
	tenantKey string
	caCert    string
	caKey     string
	upCA      *ca.CA
	upCAFile  string
	roots     *x509.CertPool // trusts the Sidekey CA (the client's view)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), vault: vaulttest.Start(t)}
	e.tenantKey = testbin.WriteFile(t, e.dir, "tenant.keys", testbin.RandomString(t, "tenant-key-")+"\n")
	testbin.Run(t, sidekeyBin, "ca", "init", "--out", filepath.Join(e.dir, "ca"))
	e.caCert, e.caKey = filepath.Join(e.dir, "ca", "ca.crt"), filepath.Join(e.dir, "ca", "ca.key")
	caPEM, err := os.ReadFile(e.caCert)
	if err != nil {
		t.Fatal(err)
	}
	e.roots = x509.NewCertPool()
	if !e.roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the Sidekey CA is not PEM")
	}
	e.upCA, err = ca.New("reliability upstream CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.upCAFile = testbin.WriteFile(t, e.dir, "upstream-ca.pem", string(e.upCA.CertPEM()))
	return e
}

// store returns a vaultstore.Writer with a token of the admin API's policy.
func (e *env) store() *vaultstore.Writer {
	e.t.Helper()
	s, err := vaultstore.NewWriter(context.Background(), vaultstore.Config{
		Address: e.vault.Addr,
		Auth:    vaultstore.AuthConfig{Token: e.vault.AdminToken(e.t)},
		Timeout: 10 * time.Second,
	})
	if err != nil {
		e.t.Fatalf("vaultstore: %v", err)
	}
	return s
}

// createToken stores a token secret and returns its value.
func (e *env) createToken(s *vaultstore.Writer, alias string) string {
	e.t.Helper()
	v := testbin.RandomString(e.t, "tok-")
	if _, err := s.Create(context.Background(), tenant, secret.CreateInput{
		Alias: alias, Type: secret.TypeToken, Value: secret.Value{Token: v}, Actor: "reliability",
	}); err != nil {
		e.t.Fatalf("create %s: %v", alias, err)
	}
	return v
}

// proxyProc is a running `sidekey proxy` and a client routed through it.
type proxyProc struct {
	*testbin.Proc
	addr, metrics string
	auth          string // Proxy-Authorization header value
	client        *http.Client
}

// startProxy starts `sidekey proxy` against the env's Vault with a token of
// the sidecar policy; extra flags come last (and win).
func (e *env) startProxy(name string, conns int, extra ...string) *proxyProc {
	t := e.t
	t.Helper()
	tok := testbin.WriteFile(t, e.dir, name+".vault-token", e.vault.SidecarToken(t))
	p := &proxyProc{addr: testbin.FreeHostPort(t), metrics: testbin.FreeHostPort(t)}
	args := []string{"proxy", "--log-level", "warn", "--listen", p.addr, "--metrics-listen", p.metrics,
		"--ca-cert", e.caCert, "--ca-key", e.caKey, "--tenant-key-file", e.tenantKey,
		"--allow-upstream-cidr", "127.0.0.0/8", "--upstream-ca", e.upCAFile,
		"--vault-addr", e.vault.Addr, "--vault-token-file", tok}
	p.Proc = daemon(t, name, append(args, extra...)...)
	testbin.WaitOK(t, "http://"+p.metrics+"/readyz")
	p.auth = testbin.Run(t, sidekeyBin, "token", "proxy", "--key-file", e.tenantKey, "--org", tenant.Org, "--domain", tenant.Domain, "--format", "header")
	proxyURL, err := url.Parse("http://" + p.addr)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{
		Proxy:               http.ProxyURL(proxyURL),
		ProxyConnectHeader:  http.Header{"Proxy-Authorization": {p.auth}},
		TLSClientConfig:     &tls.Config{RootCAs: e.roots, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	p.client = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	return p
}

// outcome is what one request through the proxy came to.
type outcome struct {
	status int
	code   string // Sidekey-Error
	body   []byte
	err    error
}

func (o outcome) String() string {
	if o.err != nil {
		return "error: " + o.err.Error()
	}
	return fmt.Sprintf("%d %q", o.status, o.code)
}

// do sends req through the proxy and reads the whole answer.
func (p *proxyProc) do(req *http.Request) outcome {
	resp, err := p.client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return outcome{status: resp.StatusCode, code: resp.Header.Get("Sidekey-Error"), body: body, err: err}
}

// healthy checks /healthz and that the process still runs.
func (p *proxyProc) healthy(t testing.TB) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("%s exited", p.Name)
	}
	if s, err := testbin.GetStatus("http://" + p.metrics + "/healthz"); err != nil || s != http.StatusOK {
		t.Fatalf("%s /healthz: %d %v", p.Name, s, err)
	}
}

// scrape reads the proxy's /metrics and returns the samples without
// labels (name → value) and, for labelled ones, "name{labels}" → value.
func (p *proxyProc) scrape() (map[string]float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// newUpstream starts a TLS upstream with a certificate of the env's
// upstream CA that counts the placeholders reaching it (there must be none);
// handle answers each request whose body has been read.
func (e *env) newUpstream(handle testupstream.Handler) *testupstream.Server {
	e.t.Helper()
	return testupstream.Start(e.t, testupstream.Options{Authority: e.upCA, Hosts: []string{"127.0.0.1"}, Handle: handle})
}

// resetListener accepts TCP connections on loopback and resets each one
// (SO_LINGER 0) as soon as it arrives, until the test ends.
func resetListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}
