package adminapi

// The contract suites on the REAL dev Vault (bin/vaultdev through
// internal/vaulttest), with a token of the admin policy of deploy/vault,
// not root.

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/vaulttest"
	"github.com/sidekey/sidekey/vaultstore"
)

// newVaultHarness runs the API over a vaultstore.Writer logged in to srv
// with the admin policy's token. The store logs into the harness' buffer,
// so the leak test scans its lines too.
func newVaultHarness(t *testing.T, srv *vaulttest.Server, mod ...func(*Config)) *harness {
	t.Helper()
	h := newVaultHarnessTB(t, srv, mod...)
	h.t = t
	return h
}

// newVaultHarnessTB serves benchmarks too (their harness has no *testing.T:
// only its server is used).
func newVaultHarnessTB(t testing.TB, srv *vaulttest.Server, mod ...func(*Config)) *harness {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	store, err := vaultstore.NewWriter(ctx, vaultstore.Config{
		Address: srv.Addr,
		Auth:    vaultstore.AuthConfig{Token: srv.AdminToken(t)},
		Timeout: 2 * time.Second,
		Logger:  newTestLogger(logs).Named("vaultstore"),
	})
	if err != nil {
		cancel()
		t.Fatalf("vaultstore.NewWriter: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = store.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return newHarnessLogs(t, store, logs, mod...)
}

func TestVaultRBACMatrix(t *testing.T) {
	runRBACMatrix(t, newVaultHarness(t, vaulttest.Start(t)))
}

func TestVaultValidation(t *testing.T) {
	runValidation(t, newVaultHarness(t, vaulttest.Start(t)))
}

func TestVaultLimits(t *testing.T) {
	runLimits(t, newVaultHarness(t, vaulttest.Start(t)))
}

func TestVaultConflicts(t *testing.T) {
	runConflicts(t, newVaultHarness(t, vaulttest.Start(t)))
}

func TestVaultNoLeak(t *testing.T) {
	runNoLeak(t, newVaultHarness(t, vaulttest.Start(t)))
}

// TestVaultDown: with Vault stopped every endpoint is 503
// store_unavailable; after a restart nothing was written meanwhile.
func TestVaultDown(t *testing.T) {
	srv := vaulttest.Start(t)
	h := newVaultHarness(t, srv)
	var before string
	runStoreDown(t, h, func() {
		before = h.snapshot(orgA, domX)
		srv.Stop(t)
	})
	srv.Restart(t)
	if after := h.snapshot(orgA, domX); after != before {
		t.Errorf("something was written while Vault was down:\nbefore %s\nafter  %s", before, after)
	}
}

// TestVaultConcurrentCreate: concurrent creates of one alias give exactly
// one 201 and alias_taken for the others.
func TestVaultConcurrentCreate(t *testing.T) {
	h := newVaultHarness(t, vaulttest.Start(t))
	tok := orgAdmin(t, orgA)
	const n = 4
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = h.do("POST", basePath+"/secrets", tok, tokenBody("race", "v")).status
		}()
	}
	wg.Wait()
	created, taken := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			taken++
		}
	}
	if created != 1 || taken != n-1 {
		t.Errorf("statuses %v, want one 201 and %d 409", statuses, n-1)
	}
}
