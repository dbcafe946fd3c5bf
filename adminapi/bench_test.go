package adminapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sidekey/sidekey/internal/oidctest"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

func benchToken(b *testing.B) string {
	b.Helper()
	tok, err := MintHS256(testKey, Claims{Role: RoleOrgAdmin, Org: orgA, RegisteredClaims: jwt.RegisteredClaims{
		Subject: "bench", Issuer: testIss, Audience: jwt.ClaimStrings{testAud},
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// BenchmarkListFake is the API's own cost of an authenticated list of 20
// secrets: JWT verification, routing, RBAC, JSON, headers, metrics, access
// log (discarded). The store is in memory; no network.
func BenchmarkListFake(b *testing.B) {
	store := newFakeStore()
	api, err := New(Config{Store: store, Auth: AuthConfig{HS256Key: testKey, Issuer: testIss, Audience: testAud}})
	if err != nil {
		b.Fatal(err)
	}
	h := api.Handler()
	tok := benchToken(b)
	for i := range 20 {
		body, _ := json.Marshal(tokenBody(fmt.Sprintf("s%02d", i), "v"))
		req := httptest.NewRequest("POST", basePath+"/secrets", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("setup create: %d", rec.Code)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", basePath+"/secrets", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("list: %d", rec.Code)
		}
	}
}

// BenchmarkListOIDC is BenchmarkListFake with a token of the real OpenID
// Connect provider (bin/oidcdev): RS256 verification by go-oidc against the
// cached key set instead of HS256. The provider is only called before the
// timer starts (discovery and the first key set fetch).
func BenchmarkListOIDC(b *testing.B) {
	p := oidctest.Start(b, oidctest.Options{Users: oidcUsers()})
	api, err := New(Config{Store: newFakeStore(), Auth: AuthConfig{
		OIDC:   &OIDCConfig{Issuer: p.Issuer, ClientID: p.ClientID},
		Claims: oidcMapping,
	}})
	if err != nil {
		b.Fatal(err)
	}
	h := api.Handler()
	tok := p.Login(b, "ada", oidcPassword)
	call := func(method, path string, body []byte) int {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 20 {
		body, _ := json.Marshal(tokenBody(fmt.Sprintf("s%02d", i), "v"))
		if code := call("POST", basePath+"/secrets", body); code != http.StatusCreated {
			b.Fatalf("setup create: %d", code)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if code := call("GET", basePath+"/secrets", nil); code != http.StatusOK {
			b.Fatalf("list: %d", code)
		}
	}
	b.StopTimer()
	// The key set stays cached: one fetch, before the timer started.
	if n := testutil.ToFloat64(api.metrics.keyFetches.WithLabelValues("fetched")); n != 1 {
		b.Fatalf("key set fetched %v times, want 1", n)
	}
}

// BenchmarkCreateArchiveVault is one create plus one archive through the
// API over loopback HTTP against the real dev Vault (admin policy token).
func BenchmarkCreateArchiveVault(b *testing.B) {
	srv := vaulttest.Start(b)
	h := newVaultHarnessTB(b, srv)
	tok := benchToken(b)
	client := h.srv.Client()
	do := func(method, path string, body []byte) int {
		req, _ := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		alias := fmt.Sprintf("bench-%d", i)
		i++
		body, _ := json.Marshal(tokenBody(alias, "benchmark-value"))
		if s := do("POST", basePath+"/secrets", body); s != http.StatusCreated {
			b.Fatalf("create: %d", s)
		}
		if s := do("DELETE", basePath+"/secrets/"+alias, nil); s != http.StatusNoContent {
			b.Fatalf("archive: %d", s)
		}
	}
}
