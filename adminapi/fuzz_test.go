package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sidekey/sidekey/internal/secret"
)

// FuzzSecretJSON sends any body as a create (POST …/secrets) or a rotate
// (PUT …/secrets/existing) through the whole handler, with a valid org
// admin token and the in-memory store, and checks: no panic (a 500), an
// answer of a status the API documents, an error body with a code for
// every refusal, and no value of the request (token, username, password of
// 8+ bytes) in the answer or the logs.
func FuzzSecretJSON(f *testing.F) {
	seeds := []string{
		`{"alias":"weather_fx","type":"token","value":{"token":"tok-SECRET-0123456789"}}`,
		`{"alias":"smtp","type":"username_password","value":{"username":"mailer-SECRET","password":"pw-SECRET-0123456789"},"allowed_hosts":["*.example.com"]}`,
		`{"alias":"cfg","type":"json","value":{"json":{"a":{"b":[1,2,{"c":"SECRET-leaf"}]},"n":null}}}`,
		`{"alias":"cfg2","type":"json","value":{"json":"{\"k\":\"v\"}"}}`,
		`{"alias":"Bad Alias!","type":"token","value":{"token":""}}`,
		`{"alias":"x","type":"token","value":{"token":"tok-SECRET-0123456789"},"extra":1}`,
		`{"alias":"x","type":"json","value":{"json":[1,2,3]}}`,
		`{"value":{"token":"tok-SECRET-0123456789"}}`,
		`{"value":{"token":"tok-SECRET-0123456789"},"type":"json"}`,
		`{"alias":"existing","value":{"token":"tok-SECRET-0123456789"}} {}`,
		`{"value":{"token":12345678901234}}`,
		`{"alias":"a","type":"token","value":{"token":"tok\u0000SECRET\r\n0123"}}`,
		`[]`, `null`, `"x"`, `{`, ``,
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	logs := &syncBuffer{}
	store := newFakeStore()
	api, err := New(Config{
		Store:  store,
		Auth:   AuthConfig{HS256Key: testKey, Leeway: 30 * time.Second},
		Logger: newTestLogger(logs),
	})
	if err != nil {
		f.Fatal(err)
	}
	token, err := MintHS256(testKey, Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "fuzz", ExpiresAt: jwt.NewNumericDate(time.Now().Add(24 * time.Hour))},
		Role:             RoleOrgAdmin, Org: orgA,
	})
	if err != nil {
		f.Fatal(err)
	}
	tenant := secret.Tenant{Org: orgA, Domain: domX}
	if _, err := store.Create(f.Context(), tenant, secret.CreateInput{
		Alias: "existing", Type: secret.TypeToken, Value: secret.Value{Token: "existing-value-0123"},
	}); err != nil {
		f.Fatal(err)
	}
	documented := map[int]bool{
		http.StatusOK: true, http.StatusCreated: true, http.StatusBadRequest: true, http.StatusNotFound: true,
		http.StatusConflict: true, http.StatusRequestEntityTooLarge: true, http.StatusUnsupportedMediaType: true,
	}

	f.Fuzz(func(t *testing.T, body []byte, rotate bool) {
		method, path := http.MethodPost, basePath+"/secrets"
		if rotate {
			method, path = http.MethodPut, basePath+"/secrets/existing"
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		logs.mu.Lock()
		logs.buf.Reset()
		logs.mu.Unlock()
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)

		if !documented[rec.Code] {
			t.Fatalf("status %d for a %d-byte body", rec.Code, len(body))
		}
		if rec.Code >= 400 {
			var eb errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
				t.Fatalf("refusal %d without an error code: %v", rec.Code, err)
			}
		}
		// No value may come back or be logged. Only values that the
		// input spells once, plainly, are checked: an alias or field name
		// equal to the value is legitimately echoed.
		var in struct {
			Value struct {
				Token    any `json:"token"`
				Username any `json:"username"`
				Password any `json:"password"`
			} `json:"value"`
		}
		_ = json.Unmarshal(body, &in)
		for _, v := range []any{in.Value.Token, in.Value.Username, in.Value.Password} {
			s, ok := v.(string)
			if !ok || len(s) < 8 || bytes.Count(body, []byte(s)) != 1 {
				continue
			}
			if strings.Contains(rec.Body.String(), s) {
				t.Fatalf("the answer (status %d) holds a value of the request (%d bytes)", rec.Code, len(s))
			}
			if strings.Contains(logs.String(), s) {
				t.Fatalf("the logs hold a value of the request (%d bytes)", len(s))
			}
		}
	})
}
