package adminapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"

	"github.com/sidekey/sidekey/internal/errcode"
)

func TestCreateGetListRotateArchive(t *testing.T) {
	store := newFakeStore()
	h := newHarness(t, store)
	tok := orgAdmin(t, orgA)

	r := h.do("POST", basePath+"/secrets", tok, map[string]any{
		"alias": "Weather_FX", "type": "token", "value": map[string]any{"token": "tok-1"},
		"allowed_hosts": []string{"API.weather.com", "*.weather.com"},
	})
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d %s", r.status, r.body)
	}
	if got := r.header.Get("Location"); got != basePath+"/secrets/weather_fx" {
		t.Errorf("Location = %q", got)
	}
	var m secretOut
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Alias != "weather_fx" || m.Type != "token" || m.Version != 1 ||
		len(m.AllowedHosts) != 2 || m.AllowedHosts[0] != "api.weather.com" || m.CreatedAt != "2026-01-02T03:04:05Z" {
		t.Errorf("create metadata = %+v", m)
	}
	h.mustCreate(upBody("a_smtp", "bob", "pw"))

	r = h.do("GET", basePath+"/secrets", tok, nil)
	var l listOut
	if err := json.Unmarshal(r.body, &l); err != nil || r.status != http.StatusOK {
		t.Fatalf("list: %d %v", r.status, err)
	}
	if len(l.Secrets) != 2 || l.Secrets[0].Alias != "a_smtp" || l.Secrets[1].Alias != "weather_fx" {
		t.Errorf("list not sorted by alias: %+v", l.Secrets)
	}

	r = h.do("GET", basePath+"/secrets/WEATHER_fx", tok, nil)
	if r.status != http.StatusOK {
		t.Fatalf("get upper-case alias: %d", r.status)
	}

	r = h.do("PUT", basePath+"/secrets/weather_fx", tok, map[string]any{"value": map[string]any{"token": "tok-2"}})
	if r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &m); err != nil || m.Version != 2 || len(m.AllowedHosts) != 2 {
		t.Errorf("rotate kept hosts and bumped version? %+v %v", m, err)
	}
	if v, _ := store.value(tenantAX(), "weather_fx"); v.Token != "tok-2" {
		t.Errorf("rotate did not store the new value (len %d)", len(v.Token))
	}
	r = h.do("PUT", basePath+"/secrets/weather_fx", tok, map[string]any{"value": map[string]any{"token": "tok-3"}, "allowed_hosts": []string{}})
	if err := json.Unmarshal(r.body, &m); err != nil || r.status != 200 || len(m.AllowedHosts) != 0 {
		t.Errorf("rotate with allowed_hosts [] should clear them: %d %+v", r.status, m)
	}

	r = h.do("DELETE", basePath+"/secrets/weather_fx", tok, nil)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("archive: %d %q", r.status, r.body)
	}
	if r = h.do("GET", basePath+"/secrets/weather_fx", tok, nil); r.status != http.StatusNotFound || r.errorCode() != errcode.NotFound {
		t.Errorf("get archived: %d %s", r.status, r.errorCode())
	}
}

func TestMacros(t *testing.T) {
	h := newHarness(t, newFakeStore())
	h.mustCreate(tokenBody("weather", "t"))
	h.mustCreate(upBody("smtp", "u", "p"))
	h.mustCreate(jsonBody("cfg", map[string]any{"region": "eu", "api-key": "k", "bad key": 1}))
	r := h.do("GET", basePath+"/macros", orgAdmin(t, orgA), nil)
	if r.status != http.StatusOK {
		t.Fatalf("macros: %d", r.status)
	}
	var out macrosOut
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, m := range out.Macros {
		if m.Label == "" {
			t.Errorf("macro %s has no label", m.Reference)
		}
		refs = append(refs, m.Reference)
	}
	want := []string{
		"{{secrets.cfg}}", "{{secrets.cfg.api-key}}", "{{secrets.cfg.region}}",
		"{{secrets.smtp.username}}", "{{secrets.smtp.password}}", "{{secrets.smtp | basic}}",
		"{{secrets.weather}}",
	}
	if out.Category != "Secrets" || len(refs) != len(want) {
		t.Fatalf("macros = %q (category %q), want %q", refs, out.Category, want)
	}
	for i := range want {
		if refs[i] != want[i] {
			t.Errorf("macro %d = %q, want %q", i, refs[i], want[i])
		}
	}
}

func tenantAX() secret.Tenant { return secret.Tenant{Org: orgA, Domain: domX} }

func TestMacrosOf(t *testing.T) {
	got := macrosOf("cfg", secret.TypeJSON, []string{"a", "b c", "a", "", "x.y", "Z_9-"})
	var refs []string
	for _, m := range got {
		refs = append(refs, m.Reference)
	}
	want := []string{"{{secrets.cfg}}", "{{secrets.cfg.a}}", "{{secrets.cfg.Z_9-}}"}
	if strings.Join(refs, " ") != strings.Join(want, " ") {
		t.Errorf("macrosOf = %q, want %q", refs, want)
	}
	if m := macrosOf("x", secret.Type("other"), nil); m != nil {
		t.Errorf("unknown type gave %v", m)
	}
}
