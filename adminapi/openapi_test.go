package adminapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/errcode"
)

// openAPIDocument is the part of the document the router test reads. The
// error codes it lists are checked against the registry by internal/errcode.
type openAPIDocument struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIMatchesRouter walks the router and the document and fails if
// they disagree: every route is documented and every documented operation
// is routed to the pattern it names.
func TestOpenAPIMatchesRouter(t *testing.T) {
	h := newHarness(t, newFakeStore())
	r := h.do("GET", "/v1/openapi.json", "", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/openapi.json: %d %q", r.status, r.header.Get("Content-Type"))
	}
	var doc openAPIDocument
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for m := range item {
			if slices.Contains(httpMethods, m) {
				documented[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	routed := map[string]bool{}
	for _, rt := range h.api.routes() {
		routed[rt.method+" "+rt.pattern] = true
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("route %s is not in the OpenAPI document", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("the OpenAPI document has %s, which the router does not serve", k)
		}
	}

	// Ask the real mux where each documented operation goes.
	param := regexp.MustCompile(`\{[a-z]+\}`)
	for k := range documented {
		method, path, _ := strings.Cut(k, " ")
		req := httptest.NewRequest(method, param.ReplaceAllString(path, "sample"), nil)
		if _, pattern := h.api.mux.Handler(req); pattern != k {
			t.Errorf("%s is routed to %q", k, pattern)
		}
	}

	if !json.Valid(OpenAPI()) {
		t.Error("OpenAPI() is not JSON")
	}

	// Every $ref resolves.
	var tree any
	if err := json.Unmarshal(r.body, &tree); err != nil {
		t.Fatal(err)
	}
	refs := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				refs++
				if resolvePointer(tree, ref) == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(tree)
	if refs == 0 {
		t.Error("no $ref found: the walk looked at nothing")
	}
}

// resolvePointer follows a local JSON pointer ("#/components/schemas/X").
func resolvePointer(root any, ref string) any {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	return lookupPath(root, strings.Split(p, "/"))
}

func TestUnknownPathsAndMethods(t *testing.T) {
	h := newHarness(t, newFakeStore())
	tok := orgAdmin(t, orgA)
	r := h.do("PATCH", basePath+"/secrets/a", tok, "{}")
	if r.status != http.StatusMethodNotAllowed || r.errorCode() != errcode.MethodNotAllowed {
		t.Errorf("PATCH: %d %q", r.status, r.errorCode())
	}
	if allow := r.header.Values("Allow"); !slices.Equal(allow, []string{"GET", "PUT", "DELETE"}) {
		t.Errorf("Allow = %v", allow)
	}
	r = h.do("GET", "/v1/nothing", tok, nil)
	if r.status != http.StatusNotFound || r.errorCode() != errcode.NotFound {
		t.Errorf("unknown path: %d %q", r.status, r.errorCode())
	}
	if r := h.do("GET", "/", "", nil); r.status != http.StatusNotFound {
		t.Errorf("/ without a UI: %d", r.status)
	}
}

// TestOpenAPIShapes checks real responses against the documented schemas:
// every key answered is documented, and every required key is answered.
func TestOpenAPIShapes(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	schema := func(name string) (props map[string]any, required []string) {
		s, _ := resolvePointer(doc, "#/components/schemas/"+name).(map[string]any)
		props, _ = s["properties"].(map[string]any)
		for _, r := range s["required"].([]any) {
			required = append(required, r.(string))
		}
		return props, required
	}
	check := func(what, name string, obj map[string]any) {
		t.Helper()
		props, required := schema(name)
		for k := range obj {
			if _, ok := props[k]; !ok {
				t.Errorf("%s answers %q, which schema %s does not document", what, k, name)
			}
		}
		for _, k := range required {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s lacks %q, required by schema %s", what, k, name)
			}
		}
	}
	decode := func(r response) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("body is not a JSON object: %v", err)
		}
		return m
	}

	h := newHarness(t, newFakeStore())
	tok := orgAdmin(t, orgA)
	h.mustCreate(upBody("smtp", "u", "p"))
	check("create", "Secret", decode(h.do("POST", basePath+"/secrets", tok, tokenBody("tok", "v"))))
	check("get", "Secret", decode(h.do("GET", basePath+"/secrets/tok", tok, nil)))
	check("rotate", "Secret", decode(h.do("PUT", basePath+"/secrets/tok", tok, map[string]any{"value": map[string]any{"token": "w"}})))
	list := decode(h.do("GET", basePath+"/secrets", tok, nil))
	check("list", "SecretList", list)
	for _, s := range list["secrets"].([]any) {
		check("list item", "Secret", s.(map[string]any))
	}
	macros := decode(h.do("GET", basePath+"/macros", tok, nil))
	check("macros", "MacroList", macros)
	for _, m := range macros["macros"].([]any) {
		check("macro", "Macro", m.(map[string]any))
	}
	check("session", "Session", decode(h.do("GET", "/v1/session", tok, nil)))
	check("auth config (token)", "AuthConfig", decode(h.do("GET", "/v1/auth/config", "", nil)))
	e := decode(h.do("POST", basePath+"/secrets", tok, tokenBody("", "")))
	check("error", "Error", e)
	detail := e["error"].(map[string]any)
	for _, f := range detail["fields"].([]any) {
		if fm := f.(map[string]any); fm["field"] == nil || fm["message"] == nil || len(fm) != 2 {
			t.Errorf("field error %v", fm)
		}
	}
}
