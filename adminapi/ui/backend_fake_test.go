package ui_test

// TEMPORARY dev backend (in-memory store), replaced by the real Vault one.

import (
	"context"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sidekey/sidekey/adminapi"
	"github.com/sidekey/sidekey/adminapi/ui"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/vaultstore"
)

type entry struct {
	m vaultstore.Metadata
	v secret.Value
}

type mem struct {
	mu sync.Mutex
	m  map[string]entry
}

func key(t secret.Tenant, a string) string { return t.String() + "/" + a }
func (s *mem) Ping(context.Context) error { return nil }
func (s *mem) List(_ context.Context, t secret.Tenant) ([]vaultstore.Metadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []vaultstore.Metadata
	p := t.String() + "/"
	for k, v := range s.m {
		if len(k) > len(p) && k[:len(p)] == p {
			out = append(out, v.m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Alias < out[j].Alias })
	return out, nil
}
func (s *mem) Get(_ context.Context, t secret.Tenant, a string) (vaultstore.Metadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key(t, a)]
	if !ok {
		return e.m, secret.ErrNotFound
	}
	return e.m, nil
}
func (s *mem) Create(_ context.Context, t secret.Tenant, in vaultstore.CreateInput) (vaultstore.Metadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key(t, in.Alias)]; ok {
		return vaultstore.Metadata{}, vaultstore.ErrAliasTaken
	}
	now := time.Now().UTC().Truncate(time.Second)
	m := vaultstore.Metadata{Alias: in.Alias, Type: in.Type, AllowedHosts: in.AllowedHosts, CreatedAt: now, UpdatedAt: now, Version: 1}
	if in.Type == secret.TypeJSON {
		m.JSONKeys, _ = secret.ObjectKeys(in.Value.JSON)
	}
	s.m[key(t, in.Alias)] = entry{m, in.Value}
	return m, nil
}
func (s *mem) Rotate(_ context.Context, t secret.Tenant, a string, in vaultstore.RotateInput) (vaultstore.Metadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key(t, a)]
	if !ok {
		return e.m, secret.ErrNotFound
	}
	e.m.Version++
	e.m.UpdatedAt = time.Now().UTC().Add(time.Second).Truncate(time.Second)
	if in.AllowedHosts != nil {
		e.m.AllowedHosts = *in.AllowedHosts
	}
	e.v = in.Value
	s.m[key(t, a)] = e
	return e.m, nil
}
func (s *mem) Archive(_ context.Context, t secret.Tenant, a, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key(t, a)]; !ok {
		return secret.ErrNotFound
	}
	delete(s.m, key(t, a))
	return nil
}

type backend struct {
	URL   string
	key   []byte
	store *mem
}

func startBackend(t *testing.T) *backend {
	k := []byte("0123456789abcdef0123456789abcdef")
	st := &mem{m: map[string]entry{}}
	srv, err := adminapi.New(adminapi.Config{Store: st, Auth: adminapi.AuthConfig{HS256Key: k}, UI: ui.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &backend{URL: ts.URL, key: k, store: st}
}

func (e *backend) Token(t *testing.T, role, org string, domains ...string) string {
	c := jwt.MapClaims{"sub": role + "@" + org + ".test", "role": role, "org": org, "exp": time.Now().Add(time.Hour).Unix()}
	if len(domains) > 0 {
		c["domains"] = domains
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(e.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *backend) StoredJSON(t *testing.T, org, domain, alias string) string {
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	return string(e.store.m[key(secret.Tenant{Org: org, Domain: domain}, alias)].v.JSON)
}

func (e *backend) StoredToken(t *testing.T, org, domain, alias string) string {
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	return e.store.m[key(secret.Tenant{Org: org, Domain: domain}, alias)].v.Token
}
