package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/vaulttest"
	"github.com/sidekey/sidekey/vaultstore"
)

// vaultCalls is a reverse proxy in front of the real dev Vault that counts
// the calls the store makes, by method and kind of path.
type vaultCalls struct {
	mu    sync.Mutex
	calls []string
}

func (c *vaultCalls) record(r *http.Request) {
	p := r.URL.Path
	kind := "other"
	switch {
	case strings.Contains(p, "/changes"):
		kind = "feed"
	case strings.Contains(p, "/metadata/"):
		kind = "metadata"
	case strings.Contains(p, "/data/"):
		kind = "data"
	case strings.Contains(p, "/auth/"), strings.Contains(p, "/sys/"):
		return // login, renewal, health: not part of a mutation
	}
	c.mu.Lock()
	c.calls = append(c.calls, r.Method+" "+kind)
	c.mu.Unlock()
}

// take returns the calls since the last take, counted, e.g.
// "GET metadata ×1, PUT data ×1".
func (c *vaultCalls) take() (summary string, metadataReads int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := map[string]int{}
	for _, k := range c.calls {
		n[k]++
	}
	c.calls = nil
	var parts []string
	for k, v := range n {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", "), n["GET metadata"]
}

// TestVaultCallsPerMutation counts the Vault calls of one create, rotate
// and archive through the API against the real dev Vault: no mutation
// reads the secret's metadata more than once.
func TestVaultCallsPerMutation(t *testing.T) {
	srv := vaulttest.Start(t)
	target, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	calls := &vaultCalls{}
	rp := httputil.NewSingleHostReverseProxy(target)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.record(r)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)

	logs := &syncBuffer{}
	store, err := vaultstore.NewWriter(context.Background(), vaultstore.Config{
		Address: counting.URL,
		Auth:    vaultstore.AuthConfig{Token: srv.AdminToken(t)},
		Timeout: 2 * time.Second,
		Logger:  newTestLogger(logs).Named("vaultstore"),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessLogs(t, store, logs)
	tok := orgAdmin(t, orgA)
	calls.take()

	steps := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"create", "POST", basePath + "/secrets", tokenBody("counted", "v-counted-1"), http.StatusCreated},
		{"rotate", "PUT", basePath + "/secrets/counted", map[string]any{"value": map[string]any{"token": "v-counted-2"}}, http.StatusOK},
		{"archive", "DELETE", basePath + "/secrets/counted", nil, http.StatusNoContent},
	}
	for _, s := range steps {
		r := h.do(s.method, s.path, tok, s.body)
		if r.status != s.status {
			t.Fatalf("%s: status %d %s", s.name, r.status, r.body)
		}
		summary, reads := calls.take()
		t.Logf("%s: %s", s.name, summary)
		if reads > 1 {
			t.Errorf("%s read the secret's metadata %d times (%s); once is enough", s.name, reads, summary)
		}
	}
}
