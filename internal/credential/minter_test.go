package credential_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/credential/credtest"
	"github.com/sidekey/sidekey/internal/secret"
)

const (
	fcmScope = "https://www.googleapis.com/auth/firebase.messaging"
	saEmail  = "sender@sidekey-test.iam.gserviceaccount.com"
)

var tenant = secret.Tenant{Org: "acme", Domain: "shop"}

// clock is a settable clock for the Minter.
type clock struct{ ns atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

type fixture struct {
	srv   *credtest.GoogleTokenServer
	key   *credtest.RSAKey
	m     *credential.Minter
	clock *clock
	reg   *prometheus.Registry
	logs  *observer.ObservedLogs
}

func newFixture(t *testing.T, expiresIn int) *fixture {
	t.Helper()
	srv := credtest.NewGoogleTokenServer(saEmail, fcmScope, expiresIn)
	t.Cleanup(srv.Close)
	key := credtest.NewRSAKey(t, "kid-one")
	srv.AddKey(key)
	c := newClock()
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zap.DebugLevel)
	m := newMinter(t, credential.Config{
		HTTPClient:   srv.Client(),
		Registerer:   reg,
		Logger:       zap.New(core),
		Now:          c.Now,
		RetryInitial: time.Millisecond,
	})
	return &fixture{srv: srv, key: key, m: m, clock: c, reg: reg, logs: logs}
}

func (f *fixture) request(t *testing.T, version int, key *credtest.RSAKey) credential.TokenRequest {
	return credential.TokenRequest{
		Tenant: tenant, Alias: "fcm", Version: version,
		Kind:   credential.KindGoogleServiceAccount,
		Object: credtest.ServiceAccountJSON(t, saEmail, f.srv.URL, key),
		Filter: credential.FilterGoogleAccessToken, Args: []string{fcmScope},
	}
}

func TestGoogleOneExchangeForConcurrentFirstRequests(t *testing.T) {
	f := newFixture(t, 3600)
	req := f.request(t, 1, f.key)
	const n = 200
	tokens := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v, err := f.m.Token(context.Background(), req)
			tokens[i], errs[i] = v.Token, err
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] {
			t.Fatalf("request %d got another token than request 0", i)
		}
	}
	if got := f.srv.Exchanges(); got != 1 {
		t.Fatalf("token endpoint saw %d exchanges for %d concurrent first requests, want 1", got, n)
	}
	if kid := f.srv.KeyOf(tokens[0]); kid != "kid-one" {
		t.Fatalf("token obtained with key %q, want kid-one", kid)
	}
	if got := testutil.ToFloat64(counter(t, f.reg, "sidekey_credential_exchanges_total", "google_service_account", "ok")); got != 1 {
		t.Fatalf("exchanges_total{ok} = %v, want 1", got)
	}
}

func TestGoogleRefreshAheadWithoutFailedRequest(t *testing.T) {
	f := newFixture(t, 100)
	req := f.request(t, 1, f.key)
	first := mustToken(t, f.m, req)
	// Past 80 % of the lifetime: the cached token is still served while a
	// background refresh runs.
	f.clock.Add(85 * time.Second)
	if got := mustToken(t, f.m, req); got != first {
		t.Fatal("a token inside its lifetime was not served from the cache")
	}
	waitFor(t, func() bool { return f.srv.Exchanges() == 2 })
	waitFor(t, func() bool { return mustToken(t, f.m, req) != first })
	// Past the first token's expiry, the refreshed one is served without a
	// new exchange.
	f.clock.Add(20 * time.Second)
	second := mustToken(t, f.m, req)
	if second == first {
		t.Fatal("the expired token was served")
	}
	if got := f.srv.Exchanges(); got != 2 {
		t.Fatalf("exchanges = %d, want 2 (one refresh)", got)
	}
	if got := f.srv.Refused(); got != 0 {
		t.Fatalf("endpoint refused %d requests", got)
	}
}

func TestGoogleRotationUsesNewKey(t *testing.T) {
	f := newFixture(t, 3600)
	first := mustToken(t, f.m, f.request(t, 1, f.key))
	if f.srv.KeyOf(first) != "kid-one" {
		t.Fatal("first token not from kid-one")
	}
	// Rotate: the endpoint trusts only the new key; the store hands out
	// version 2 with it, and the change feed evicts the alias.
	next := credtest.NewRSAKey(t, "kid-two")
	f.srv.AddKey(next)
	f.srv.RevokeKey("kid-one")
	f.m.Evict(tenant, "FCM")
	if f.m.Len() != 0 {
		t.Fatalf("Evict left %d tokens", f.m.Len())
	}
	second := mustToken(t, f.m, f.request(t, 2, next))
	if kid := f.srv.KeyOf(second); kid != "kid-two" {
		t.Fatalf("token after rotation obtained with %q, want kid-two", kid)
	}
}

func TestGoogleFailClosedAtExpiry(t *testing.T) {
	f := newFixture(t, 100)
	req := f.request(t, 1, f.key)
	first := mustToken(t, f.m, req)
	f.srv.SetMode(credtest.Status503)
	// Refresh time: the refresh fails, the cached token is still valid.
	f.clock.Add(85 * time.Second)
	if got := mustToken(t, f.m, req); got != first {
		t.Fatal("cached token not served while the endpoint fails before expiry")
	}
	waitFor(t, func() bool { return f.srv.Refused() >= 1 })
	// Past expiry: never the old token.
	f.clock.Add(15 * time.Second)
	v, err := f.m.Token(context.Background(), req)
	var xe *credential.ExchangeError
	if !errors.As(err, &xe) || xe.Status != http.StatusServiceUnavailable || !errors.Is(err, credential.ErrExchange) {
		t.Fatalf("after expiry with the endpoint down: %v, want an exchange error with status 503", err)
	}
	if v.Token != "" {
		t.Fatal("a token was returned with the error")
	}
}

func TestExchangeFailures(t *testing.T) {
	cases := []struct {
		name     string
		mode     credtest.Mode
		status   int
		reason   string
		requests int64 // attempts: refusals are not retried
	}{
		{"400", credtest.Status400, 400, "status", 1},
		{"401", credtest.Status401, 401, "status", 1},
		{"503 retried", credtest.Status503, 503, "status", 3},
		{"empty token retried", credtest.Empty, 0, "empty token", 3},
		{"malformed retried", credtest.Malformed, 0, "malformed response", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 3600)
			f.srv.SetMode(tc.mode)
			_, err := f.m.Token(context.Background(), f.request(t, 1, f.key))
			var xe *credential.ExchangeError
			if !errors.As(err, &xe) {
				t.Fatalf("err = %v, want *ExchangeError", err)
			}
			if xe.Status != tc.status || xe.Reason != tc.reason {
				t.Fatalf("status %d reason %q, want %d %q", xe.Status, xe.Reason, tc.status, tc.reason)
			}
			if got := f.srv.Requests(); got != tc.requests {
				t.Fatalf("endpoint saw %d requests, want %d", got, tc.requests)
			}
			assertNoLeak(t, err.Error(), f.key.PEM, "endpoint body", "leaked-partial")
			for _, e := range f.logs.All() {
				b, _ := json.Marshal(e.ContextMap())
				assertNoLeak(t, e.Message+string(b), f.key.PEM, "endpoint body", "leaked-partial")
			}
		})
	}
}

func TestEndpointDown(t *testing.T) {
	f := newFixture(t, 3600)
	req := f.request(t, 1, f.key)
	f.srv.Close()
	_, err := f.m.Token(context.Background(), req)
	var xe *credential.ExchangeError
	if !errors.As(err, &xe) || xe.Reason != "unreachable" {
		t.Fatalf("err = %v, want unreachable", err)
	}
}

func TestEndpointNotAllowed(t *testing.T) {
	f := newFixture(t, 3600)
	req := f.request(t, 1, f.key)
	req.AllowedHosts = []string{"fcm.googleapis.com"}
	_, err := f.m.Token(context.Background(), req)
	if !errors.Is(err, credential.ErrEndpointNotAllowed) {
		t.Fatalf("err = %v, want ErrEndpointNotAllowed", err)
	}
	if f.srv.Requests() != 0 {
		t.Fatal("the token endpoint was called")
	}
	req.AllowedHosts = []string{"fcm.googleapis.com", "127.0.0.1"}
	mustToken(t, f.m, req)
}

func TestKindAndArgumentMismatch(t *testing.T) {
	f := newFixture(t, 3600)
	cases := []struct {
		name string
		mut  func(*credential.TokenRequest)
		want error
	}{
		{"no kind", func(r *credential.TokenRequest) { r.Kind = "" }, credential.ErrInvalidCredential},
		{"other kind", func(r *credential.TokenRequest) { r.Kind = credential.KindAPNsKey }, credential.ErrInvalidCredential},
		{"no scope", func(r *credential.TokenRequest) { r.Args = nil }, credential.ErrArguments},
		{"missing field", func(r *credential.TokenRequest) {
			r.Object = json.RawMessage(`{"type":"service_account","private_key":"x","token_uri":"https://127.0.0.1/"}`)
		}, credential.ErrInvalidCredential},
		{"malformed key", func(r *credential.TokenRequest) {
			r.Object = bytes.Replace(r.Object, []byte("MII"), []byte("XXX"), 1)
		}, credential.ErrInvalidCredential},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := f.request(t, 1, f.key)
			tc.mut(&req)
			_, err := f.m.Token(context.Background(), req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			assertNoLeak(t, err.Error(), f.key.PEM)
		})
	}
	if f.srv.Requests() != 0 {
		t.Fatal("the token endpoint was called for an invalid credential")
	}
}

func TestAPNsJWTVerifiesAndIsReused(t *testing.T) {
	c := newClock()
	m := newMinter(t, credential.Config{HTTPClient: http.DefaultClient, Now: c.Now})
	key := credtest.NewECKey(t)
	req := credential.TokenRequest{Tenant: tenant, Alias: "apns", Version: 1, Kind: credential.KindAPNsKey,
		Object: credtest.APNsKeyJSON(t, "TEAM123456", "KEY1234567", key), Filter: credential.FilterAPNsJWT}
	first := mustToken(t, m, req)
	if err := credtest.VerifyAPNs("bearer "+first, &key.Private.PublicKey, "TEAM123456", "KEY1234567", c.Now()); err != nil {
		t.Fatalf("verifier refused the token: %v", err)
	}
	other := credtest.NewECKey(t)
	if err := credtest.VerifyAPNs("bearer "+first, &other.Private.PublicKey, "TEAM123456", "KEY1234567", c.Now()); err == nil {
		t.Fatal("verifier accepted the token under another key")
	}
	// Reused for 50 minutes …
	c.Add(49 * time.Minute)
	if got := mustToken(t, m, req); got != first {
		t.Fatal("token not reused within 50 minutes")
	}
	// … and the verifier would refuse it after an hour.
	if err := credtest.VerifyAPNs("bearer "+first, &key.Private.PublicKey, "TEAM123456", "KEY1234567", c.Now().Add(12*time.Minute)); err == nil {
		t.Fatal("verifier accepted a token older than an hour")
	}
	c.Add(2 * time.Minute)
	second := mustToken(t, m, req)
	if second == first {
		t.Fatal("token reused after 50 minutes")
	}
	if err := credtest.VerifyAPNs("bearer "+second, &key.Private.PublicKey, "TEAM123456", "KEY1234567", c.Now()); err != nil {
		t.Fatalf("verifier refused the renewed token: %v", err)
	}
}

func TestCacheBounded(t *testing.T) {
	m := newMinter(t, credential.Config{HTTPClient: http.DefaultClient, MaxEntries: 4})
	key := credtest.NewECKey(t)
	for v := 1; v <= 10; v++ {
		mustToken(t, m, credential.TokenRequest{Tenant: tenant, Alias: "apns", Version: v, Kind: credential.KindAPNsKey,
			Object: credtest.APNsKeyJSON(t, "TEAM123456", "KEY1234567", key), Filter: credential.FilterAPNsJWT})
	}
	if m.Len() != 4 {
		t.Fatalf("cache holds %d tokens, want 4", m.Len())
	}
}

// newMinter returns the Minter of c, failing the test when New refuses c.
func newMinter(t testing.TB, c credential.Config) *credential.Minter {
	t.Helper()
	m, err := credential.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustToken(t *testing.T, m *credential.Minter, r credential.TokenRequest) string {
	t.Helper()
	v, err := m.Token(context.Background(), r)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if v.Token == "" {
		t.Fatal("empty token")
	}
	return v.Token
}

// waitFor polls cond for up to 10 s (a bound, not a timed assertion).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func assertNoLeak(t *testing.T, text string, values ...string) {
	t.Helper()
	for _, v := range values {
		probe := v
		if len(probe) > 80 {
			probe = probe[40:80] // a distinctive slice of a PEM body
		}
		if strings.Contains(text, probe) {
			t.Fatalf("output leaks a value: %q", text)
		}
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			match := true
			for i, lp := range mt.GetLabel() {
				if i < len(labels) && lp.GetValue() != labels[i] {
					match = false
				}
			}
			if match {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "probe"}, func() float64 { return mt.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return nil
}
