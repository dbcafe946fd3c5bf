package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/adminapi"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/testbin"

	"github.com/sidekey/sidekey/internal/ops"
)

// slowStore blocks List until released, to hold a request in flight.
type slowStore struct {
	entered chan struct{}
	release chan struct{}
}

func (s *slowStore) Ping(context.Context) error { return nil }
func (s *slowStore) List(ctx context.Context, _ secret.Tenant) ([]secret.Metadata, error) {
	close(s.entered)
	select {
	case <-s.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (s *slowStore) Get(context.Context, secret.Tenant, string) (secret.Metadata, error) {
	return secret.Metadata{}, secret.ErrNotFound
}
func (s *slowStore) Create(context.Context, secret.Tenant, secret.Creatable) (secret.Metadata, error) {
	return secret.Metadata{}, secret.ErrUnavailable
}
func (s *slowStore) Rotate(context.Context, secret.Tenant, string, secret.RotateInput) (secret.Rotated, error) {
	return secret.Rotated{}, secret.ErrUnavailable
}
func (s *slowStore) Archive(context.Context, secret.Tenant, string, string) (secret.Metadata, error) {
	return secret.Metadata{}, secret.ErrUnavailable
}

// TestServeAdminDrains: on shutdown the API listener closes, a request in
// flight still completes while the store's background loop still runs
// (the drain may need Vault), and the loop stops after the drain.
func TestServeAdminDrains(t *testing.T) {
	key := []byte("a-development-key-of-more-than-32-bytes")
	store := &slowStore{entered: make(chan struct{}), release: make(chan struct{})}
	srv, err := adminapi.New(adminapi.Config{Store: store, Auth: adminapi.AuthConfig{HS256Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	ln, mln := testbin.Listen(t), testbin.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runStopped := make(chan struct{})
	runStore := func(ctx context.Context) error {
		<-ctx.Done()
		close(runStopped)
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		done <- serveAdmin(ctx, zap.NewNop(), 10*time.Second, srv, ops.Handler(srv.OpsConfig(nil)), runStore, ln, mln)
	}()

	// The metrics listener answers.
	resp, err := http.Get("http://" + mln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics /healthz: %d", resp.StatusCode)
	}

	tok, err := adminapi.MintHS256(key, adminapi.Claims{Role: adminapi.RoleOrgAdmin, Org: "acme",
		RegisteredClaims: jwt.RegisteredClaims{Subject: "s", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v1/orgs/acme/domains/d/secrets", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inflight <- result{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		inflight <- result{status: resp.StatusCode}
	}()
	<-store.entered
	cancel() // SIGTERM

	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the API listener still accepts after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-runStopped:
		t.Fatal("the store's loop stopped before the request in flight finished")
	default:
	}
	close(store.release)
	if r := <-inflight; r.err != nil || r.status != http.StatusOK {
		t.Errorf("request in flight: %d %v", r.status, r.err)
	}
	if err := <-done; err != nil {
		t.Errorf("serveAdmin: %v", err)
	}
	select {
	case <-runStopped:
	default:
		t.Error("the store's loop still runs after serveAdmin returned")
	}
}
