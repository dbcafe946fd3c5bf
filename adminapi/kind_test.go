package adminapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/errcode"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// TestVaultCredentialKind: kind is accepted for json secrets, validated
// against the kind's fields with field-named errors that never echo a
// value, shown by list and get, locked on rotate (with the new value
// checked against it), and the Macro Manager lists the derived forms.
func TestVaultCredentialKind(t *testing.T) {
	h := newVaultHarness(t, vaulttest.Start(t))
	tok := orgAdmin(t, orgA)
	const distinctive = "Distinctive-Kind-Secret-0042"
	wh := map[string]any{"alias": "wh", "type": "json", "kind": "hmac_key",
		"value": map[string]any{"json": map[string]any{"key": distinctive, "encoding": "raw"}}}
	if r := h.do("POST", basePath+"/secrets", tok, wh); r.status != http.StatusCreated || !strings.Contains(string(r.body), `"kind":"hmac_key"`) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	refused := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"missing field", map[string]any{"alias": "aws", "type": "json", "kind": "aws_credentials",
			"value": map[string]any{"json": map[string]any{"access_key_id": "AKIA", "region": distinctive}}}, "value.json.secret_access_key"},
		{"bad field", map[string]any{"alias": "aws", "type": "json", "kind": "aws_credentials",
			"value": map[string]any{"json": map[string]any{"access_key_id": "AKIA", "secret_access_key": distinctive, "region": distinctive}}}, "value.json.region"},
		{"unknown kind", map[string]any{"alias": "x", "type": "json", "kind": "x509",
			"value": map[string]any{"json": map[string]any{"k": distinctive}}}, "kind"},
		{"kind on a token", map[string]any{"alias": "x", "type": "token", "kind": "hmac_key",
			"value": map[string]any{"token": distinctive}}, "kind"},
	}
	for _, c := range refused {
		r := h.do("POST", basePath+"/secrets", tok, c.body)
		if r.status != http.StatusBadRequest || r.errorCode() != errcode.InvalidRequest || !strings.Contains(string(r.body), `"`+c.field+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", c.name, r.status, r.body, c.field)
		}
		if strings.Contains(string(r.body), distinctive) {
			t.Errorf("%s: the response echoes a value", c.name)
		}
	}
	r := h.do("GET", basePath+"/secrets/wh", tok, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"kind":"hmac_key"`) {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	r = h.do("GET", basePath+"/secrets", tok, nil)
	if !strings.Contains(string(r.body), `"kind":"hmac_key"`) {
		t.Fatalf("list: %s", r.body)
	}
	if r := h.do("PUT", basePath+"/secrets/wh", tok, map[string]any{"kind": "aws_credentials",
		"value": map[string]any{"json": map[string]any{"key": "k"}}}); r.status != http.StatusConflict || r.errorCode() != errcode.TypeLocked {
		t.Errorf("rotate to another kind: %d %s", r.status, r.body)
	}
	if r := h.do("PUT", basePath+"/secrets/wh", tok, map[string]any{
		"value": map[string]any{"json": map[string]any{"key": distinctive}}}); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "value.json.encoding") {
		t.Errorf("rotate with a value that does not fit the kind: %d %s", r.status, r.body)
	}
	if r := h.do("PUT", basePath+"/secrets/wh", tok, map[string]any{
		"value": map[string]any{"json": map[string]any{"key": "k2", "encoding": "raw"}}}); r.status != 200 || !strings.Contains(string(r.body), `"kind":"hmac_key"`) {
		t.Errorf("rotate: %d %s", r.status, r.body)
	}
	r = h.do("GET", basePath+"/macros", tok, nil)
	var macros macrosOut
	if err := json.Unmarshal(r.body, &macros); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, m := range macros.Macros {
		refs = append(refs, m.Reference)
	}
	joined := strings.Join(refs, "\n")
	for _, want := range []string{"Sidekey-Sign: hmac-sha256 secrets.wh; header=X-Signature; encoding=hex", "Sidekey-Sign: standard-webhooks secrets.wh"} {
		if !strings.Contains(joined, want) {
			t.Errorf("macros lack %q: %s", want, joined)
		}
	}
}
