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
