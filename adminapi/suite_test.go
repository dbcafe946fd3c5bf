package adminapi

// The contract suites of the admin API. Each runs against a
// harness; vault_test.go runs them on the real dev Vault with the admin
// policy's token, suite_fake_test.go on the fake store.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sidekey/sidekey/internal/errcode"
)

// caller is one row of the RBAC matrix.
type caller struct {
	name    string
	token   func(t *testing.T) string
	allowed bool
	// denied is the status of a refused caller.
	denied int
}

func matrixCallers() []caller {
	return []caller{
		{"no token", func(*testing.T) string { return "" }, false, http.StatusUnauthorized},
		{"expired", func(t *testing.T) string {
			return mint(t, testKey, Claims{Role: RoleOrgAdmin, Org: orgA, RegisteredClaims: jwt.RegisteredClaims{
				ExpiresAt: jwt.NewNumericDate(time.Now().Add(-5 * time.Minute))}})
		}, false, http.StatusUnauthorized},
		{"bad signature", func(t *testing.T) string {
			return mint(t, otherKey, Claims{Role: RoleOrgAdmin, Org: orgA})
		}, false, http.StatusUnauthorized},
		{"wrong audience", func(t *testing.T) string {
			return mint(t, testKey, Claims{Role: RoleOrgAdmin, Org: orgA, RegisteredClaims: jwt.RegisteredClaims{
				Audience: jwt.ClaimStrings{"another-service"}}})
		}, false, http.StatusUnauthorized},
		{"org admin A", func(t *testing.T) string { return orgAdmin(t, orgA) }, true, 0},
		{"org admin B", func(t *testing.T) string { return orgAdmin(t, orgB) }, false, http.StatusForbidden},
		{"domain admin X", func(t *testing.T) string { return domainAdmin(t, orgA, domX) }, true, 0},
		{"domain admin Y", func(t *testing.T) string { return domainAdmin(t, orgA, domY) }, false, http.StatusForbidden},
	}
}

// runRBACMatrix: {8 callers} × {list, create, get, rotate, archive, macros}
// on (org A, domain X), each cell's status asserted, refused cells shown to
// write nothing, and each mutation cell shown to leave one audit line.
func runRBACMatrix(t *testing.T, h *harness) {
	runRBACMatrixWith(t, h, matrixCallers(), orgAdmin(t, orgA))
}

// runRBACMatrixWith runs the matrix with the given callers; admin is a
// token of an org admin of org A, used to set up and check each row.
func runRBACMatrixWith(t *testing.T, h *harness, callers []caller, admin string) {
	h.adminToken = admin
	for i, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			h := h.with(t)
			tok := c.token(t)
			existing := fmt.Sprintf("rbac-m-%d", i)
			created := fmt.Sprintf("rbac-n-%d", i)
			h.mustCreate(tokenBody(existing, "v-"+existing))
			before := h.do("GET", basePath+"/secrets/"+existing, admin, nil)

			type cell struct {
				op, method, path string
				body             any
				okStatus         int
				mutation         bool
			}
			cells := []cell{
				{actionList, "GET", basePath + "/secrets", nil, 200, false},
				{actionCreate, "POST", basePath + "/secrets", tokenBody(created, "v-"+created), 201, true},
				{actionGet, "GET", basePath + "/secrets/" + existing, nil, 200, false},
				{actionRotate, "PUT", basePath + "/secrets/" + existing, map[string]any{"value": map[string]any{"token": "v2"}}, 200, true},
				{actionArchive, "DELETE", basePath + "/secrets/" + existing, nil, 204, true},
				{actionMacros, "GET", basePath + "/macros", nil, 200, false},
			}
			for _, cl := range cells {
				rid := fmt.Sprintf("rbac-%d-%s", i, cl.op)
				r := h.doHeaders(cl.method, cl.path, tok, cl.body, map[string]string{"X-Request-Id": rid})
				want := cl.okStatus
				if !c.allowed {
					want = c.denied
				}
				if r.status != want {
					t.Errorf("%s: status %d (code %q), want %d", cl.op, r.status, r.errorCode(), want)
				}
				if !c.allowed {
					wantCode := errcode.Unauthenticated
					if c.denied == http.StatusForbidden {
						wantCode = errcode.Forbidden
					}
					if r.errorCode() != wantCode {
						t.Errorf("%s: code %q, want %q", cl.op, r.errorCode(), wantCode)
					}
				}
				if got := r.header.Get(headerRequestID); got != rid {
					t.Errorf("%s: X-Request-Id %q, want %q", cl.op, got, rid)
				}
				lines := auditLinesFor(t, h, rid)
				switch {
				case cl.mutation || !c.allowed:
					if len(lines) != 1 {
						t.Errorf("%s: %d audit lines, want 1", cl.op, len(lines))
						continue
					}
					a := lines[0]
					wantOutcome := "success"
					if !c.allowed {
						wantOutcome = string(r.errorCode())
					}
					if a["outcome"] != wantOutcome || a["action"] != cl.op || a["org"] != orgA || a["domain"] != domX {
						t.Errorf("%s: audit line %v", cl.op, a)
					}
				default:
					if len(lines) != 0 {
						t.Errorf("%s: an allowed read left %d audit lines", cl.op, len(lines))
					}
				}
			}

			// Refused callers wrote nothing.
			if !c.allowed {
				if r := h.do("GET", basePath+"/secrets/"+created, admin, nil); r.status != http.StatusNotFound {
					t.Errorf("refused create left a secret: %d", r.status)
				}
				after := h.do("GET", basePath+"/secrets/"+existing, admin, nil)
				if after.status != http.StatusOK || string(after.body) != string(before.body) {
					t.Errorf("refused rotate/archive changed the secret: %d %s → %s", after.status, before.body, after.body)
				}
			} else {
				if r := h.do("GET", basePath+"/secrets/"+created, admin, nil); r.status != http.StatusOK {
					t.Errorf("allowed create: get %d", r.status)
				}
				if r := h.do("GET", basePath+"/secrets/"+existing, admin, nil); r.status != http.StatusNotFound {
					t.Errorf("allowed archive: get %d", r.status)
				}
			}
		})
	}
}

func auditLinesFor(t *testing.T, h *harness, rid string) []map[string]any {
	var out []map[string]any
	for _, l := range h.logs.lines(t, "audit") {
		if l["request_id"] == rid {
			out = append(out, l)
		}
	}
	return out
}

// validationCase is one invalid request and the field its 400 must name.
type validationCase struct {
	name   string
	method string
	path   string // relative to basePath
	token  string // default: org admin A
	body   any
	field  string
	// msg, when set, must appear in the field's message.
	msg string
}

func validationCases(t *testing.T) []validationCase {
	tok := func(v any) map[string]any { return map[string]any{"token": v} }
	create := func(name string, body any, field, msg string) validationCase {
		return validationCase{name: name, method: "POST", path: "/secrets", body: body, field: field, msg: msg}
	}
	rotate := func(name, alias string, body any, field string) validationCase {
		return validationCase{name: name, method: "PUT", path: "/secrets/" + alias, body: body, field: field}
	}
	hosts := func(h any) map[string]any {
		b := tokenBody("hosty", "x")
		b["allowed_hosts"] = h
		return b
	}
	many := make([]string, maxAllowedHosts+1)
	for i := range many {
		many[i] = fmt.Sprintf("h%d.example.com", i)
	}
	badUpper := "Org_A"
	return []validationCase{
		create("alias missing", map[string]any{"type": "token", "value": tok("x")}, "alias", "required"),
		create("alias empty", tokenBody("", "x"), "alias", ""),
		create("alias bad characters", tokenBody("bad alias!", "x"), "alias", ""),
		create("alias too long", tokenBody(strings.Repeat("a", 65), "x"), "alias", ""),
		create("alias not a string", map[string]any{"alias": 7, "type": "token", "value": tok("x")}, "alias", ""),
		create("type missing", map[string]any{"alias": "v1", "value": tok("x")}, "type", "required"),
		create("type unknown", map[string]any{"alias": "v1", "type": "password", "value": tok("x")}, "type", ""),
		create("value missing", map[string]any{"alias": "v1", "type": "token"}, "value", "required"),
		create("value not an object", map[string]any{"alias": "v1", "type": "token", "value": "x"}, "value", ""),
		create("token empty", tokenBody("v1", ""), "value.token", ""),
		create("token not a string", map[string]any{"alias": "v1", "type": "token", "value": tok(12)}, "value.token", ""),
		create("token with a password", map[string]any{"alias": "v1", "type": "token",
			"value": map[string]any{"token": "x", "password": "y"}}, "value", ""),
		create("password missing", map[string]any{"alias": "v1", "type": "username_password",
			"value": map[string]any{"username": "u"}}, "value.password", ""),
		create("password empty", upBody("v1", "u", ""), "value.password", ""),
		create("credentials with a token", map[string]any{"alias": "v1", "type": "username_password",
			"value": map[string]any{"username": "u", "password": "p", "token": "t"}}, "value", ""),
		create("json missing", map[string]any{"alias": "v1", "type": "json", "value": map[string]any{}}, "value.json", ""),
		create("json array", jsonBody("v1", []int{1, 2}), "value.json", "object"),
		create("json scalar", jsonBody("v1", 42), "value.json", "object"),
		create("json text invalid", jsonBody("v1", "{\"a\": 1,}"), "value.json", "line 1, column"),
		create("json text invalid line 3", jsonBody("v1", "{\n  \"a\": 1,\n  \"b\": }"), "value.json", "line 3, column"),
		create("json with a token", map[string]any{"alias": "v1", "type": "json",
			"value": map[string]any{"json": map[string]any{"a": 1}, "token": "t"}}, "value", ""),
		create("host with scheme", hosts([]string{"https://api.example.com"}), "allowed_hosts[0]", ""),
		create("host with inner wildcard", hosts([]string{"ok.example.com", "a*.example.com"}), "allowed_hosts[1]", ""),
		create("host double wildcard", hosts([]string{"*.*.example.com"}), "allowed_hosts[0]", ""),
		create("host empty", hosts([]string{""}), "allowed_hosts[0]", ""),
		create("hosts too many", hosts(many), "allowed_hosts", ""),
		create("hosts not a list", hosts("api.example.com"), "allowed_hosts", ""),
		create("unknown field", map[string]any{"alias": "v1", "type": "token", "value": tok("x"), "colour": "red"}, "colour", "unknown"),
		create("unknown value field", map[string]any{"alias": "v1", "type": "token", "value": map[string]any{"tokn": "x"}}, "tokn", "unknown"),
		create("trailing data", `{"alias":"v1","type":"token","value":{"token":"x"}} {}`, "body", "after"),
		create("syntax error", "{\"alias\": \"v1\",\n \"type\": token}", "body", "line 2, column"),
		create("truncated", `{"alias": "v1"`, "body", ""),
		create("array body", `[]`, "body", ""),
		create("empty body", ``, "body", ""),
		create("null body", `null`, "alias", "required"),
		rotate("rotate value missing", "rot", map[string]any{}, "value"),
		rotate("rotate token empty", "rot", map[string]any{"value": tok("")}, "value.token"),
		rotate("rotate bad host", "rot", map[string]any{"value": tok("x"), "allowed_hosts": []string{"bad host"}}, "allowed_hosts[0]"),
		rotate("rotate type unknown", "rot", map[string]any{"type": "nope", "value": tok("x")}, "type"),
		rotate("rotate alias invalid in body", "rot", map[string]any{"alias": "bad alias", "value": tok("x")}, "alias"),
		rotate("rotate alias invalid in path", "bad.alias", map[string]any{"value": tok("x")}, "alias"),
		rotate("rotate credentials with a token", "rot-up", map[string]any{"value": tok("x")}, "value.password"),
		rotate("rotate unknown field", "rot", map[string]any{"value": tok("x"), "extra": true}, "extra"),
		{name: "get alias invalid", method: "GET", path: "/secrets/has.dot", field: "alias"},
		{name: "archive alias invalid", method: "DELETE", path: "/secrets/" + strings.Repeat("z", 65), field: "alias"},
		{name: "org invalid", method: "GET", path: "/../../../" + badUpper + "/domains/" + domX + "/secrets",
			token: mint(t, testKey, Claims{Role: RoleOrgAdmin, Org: badUpper}), field: "org"},
	}
}

// runValidation: every validation error is 400 invalid_request naming the
// field, and none writes anything.
func runValidation(t *testing.T, h *harness) {
	h.mustCreate(tokenBody("rot", "v-rot"))
	h.mustCreate(upBody("rot-up", "u", "p"))
	before := h.snapshot(orgA, domX)
	for _, c := range validationCases(t) {
		t.Run(c.name, func(t *testing.T) {
			h := h.with(t)
			tok := c.token
			if tok == "" {
				tok = orgAdmin(t, orgA)
			}
			path := basePath + c.path
			if strings.HasPrefix(c.path, "/../../../") {
				path = "/v1/orgs/" + strings.TrimPrefix(c.path, "/../../../")
			}
			r := h.do(c.method, path, tok, c.body)
			if r.status != http.StatusBadRequest || r.errorCode() != errcode.InvalidRequest {
				t.Fatalf("status %d code %q, want 400 invalid_request", r.status, r.errorCode())
			}
			var b errorBody
			if err := json.Unmarshal(r.body, &b); err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(b.Error.Fields, func(f fieldError) bool { return f.Field == c.field })
			if i < 0 {
				t.Fatalf("fields %v do not name %q", r.fields(), c.field)
			}
			if msg := b.Error.Fields[i].Message; msg == "" || !strings.Contains(msg, c.msg) {
				t.Errorf("field %s message %q, want it to contain %q", c.field, msg, c.msg)
			}
		})
	}
	if after := h.snapshot(orgA, domX); after != before {
		t.Errorf("validation errors wrote something:\nbefore %s\nafter  %s", before, after)
	}
}

// runLimits: a value over MaxValueBytes and a body over the body bound
// are 413 payload_too_large; a non-JSON content type is 415. Nothing is
// written.
func runLimits(t *testing.T, h *harness) {
	tok := orgAdmin(t, orgA)
	before := h.snapshot(orgA, domX)
	limit := h.api.maxValueBytes
	r := h.do("POST", basePath+"/secrets", tok, tokenBody("big", strings.Repeat("a", int(limit)+1)))
	if r.status != http.StatusRequestEntityTooLarge || r.errorCode() != errcode.PayloadTooLarge || !slices.Contains(r.fields(), "value") {
		t.Errorf("value of limit+1: %d %q %v", r.status, r.errorCode(), r.fields())
	}
	r = h.do("POST", basePath+"/secrets", tok, jsonBody("big", map[string]any{"k": strings.Repeat("b", int(limit))}))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("json value over the limit: %d", r.status)
	}
	r = h.do("POST", basePath+"/secrets", tok, tokenBody("big", strings.Repeat("c", int(limit)+bodyOverhead+1)))
	if r.status != http.StatusRequestEntityTooLarge || r.errorCode() != errcode.PayloadTooLarge {
		t.Errorf("body over the bound: %d %q", r.status, r.errorCode())
	}
	r = h.doHeaders("POST", basePath+"/secrets", tok, tokenBody("ct", "x"), map[string]string{"Content-Type": "text/plain"})
	if r.status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d", r.status)
	}
	if after := h.snapshot(orgA, domX); after != before {
		t.Errorf("refused requests wrote something")
	}
	// A value of exactly the limit is accepted.
	r = h.do("POST", basePath+"/secrets", tok, tokenBody("at-limit", strings.Repeat("d", int(limit))))
	if r.status != http.StatusCreated {
		t.Errorf("value of exactly the limit: %d %q", r.status, r.errorCode())
	}
}

// runConflicts: duplicate alias 409 alias_taken; rotate with another type
// or alias 409 type_locked; unknown and archived aliases 404; an archived
// alias may be created anew. Refusals write nothing.
func runConflicts(t *testing.T, h *harness) {
	tok := orgAdmin(t, orgA)
	h.mustCreate(tokenBody("dup", "v-dup"))
	before := h.snapshot(orgA, domX)
	check := func(name string, r response, status int, code errcode.Code) {
		t.Helper()
		if r.status != status || r.errorCode() != code {
			t.Errorf("%s: %d %q, want %d %q", name, r.status, r.errorCode(), status, code)
		}
	}
	// checkNotFound checks that GET, PUT and DELETE of alias are not_found.
	checkNotFound := func(what, alias string) {
		t.Helper()
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			var body any
			if m == "PUT" {
				body = map[string]any{"value": map[string]any{"token": "t"}}
			}
			check(m+" "+what, h.do(m, basePath+"/secrets/"+alias, tok, body), 404, errcode.NotFound)
		}
	}
	check("create duplicate", h.do("POST", basePath+"/secrets", tok, tokenBody("dup", "other")), 409, errcode.AliasTaken)
	check("create duplicate, other case", h.do("POST", basePath+"/secrets", tok, tokenBody("DUP", "other")), 409, errcode.AliasTaken)
	check("create duplicate, other type", h.do("POST", basePath+"/secrets", tok, upBody("dup", "u", "p")), 409, errcode.AliasTaken)
	check("rotate to another type", h.do("PUT", basePath+"/secrets/dup", tok,
		map[string]any{"type": "username_password", "value": map[string]any{"username": "u", "password": "p"}}), 409, errcode.TypeLocked)
	check("rotate to another alias", h.do("PUT", basePath+"/secrets/dup", tok,
		map[string]any{"alias": "renamed", "value": map[string]any{"token": "t"}}), 409, errcode.TypeLocked)
	if r := h.do("PUT", basePath+"/secrets/dup", tok, map[string]any{"alias": "DUP", "type": "token",
		"value": map[string]any{"token": "same-type"}, "allowed_hosts": nil}); r.status != 200 {
		t.Errorf("rotate repeating alias and type: %d %q", r.status, r.errorCode())
	}
	before2 := h.snapshot(orgA, domX)
	if before2 == before {
		t.Errorf("the rotation repeating alias and type changed nothing")
	}
	checkNotFound("unknown", "never-was")
	if r := h.do("DELETE", basePath+"/secrets/dup", tok, nil); r.status != 204 {
		t.Fatalf("archive: %d", r.status)
	}
	archived := h.snapshot(orgA, domX)
	if strings.Contains(archived, `"dup"`) {
		t.Errorf("the archived secret is still listed")
	}
	checkNotFound("archived", "dup")
	if after := h.snapshot(orgA, domX); after != archived {
		t.Errorf("404s wrote something")
	}
	if r := h.do("POST", basePath+"/secrets", tok, upBody("dup", "u", "p")); r.status != 201 {
		t.Errorf("re-create an archived alias (other type): %d %q", r.status, r.errorCode())
	}
}

// runStoreDown: with the store down every endpoint is 503
// store_unavailable, and /readyz fails. stop takes the store down.
func runStoreDown(t *testing.T, h *harness, stop func()) {
	tok := orgAdmin(t, orgA)
	h.mustCreate(tokenBody("down", "v-down"))
	if r := h.do("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz before: %d", r.status)
	}
	stop()
	cases := []struct {
		method, path string
		body         any
	}{
		{"GET", "/secrets", nil},
		{"POST", "/secrets", tokenBody("down-2", "x")},
		{"GET", "/secrets/down", nil},
		{"PUT", "/secrets/down", map[string]any{"value": map[string]any{"token": "y"}}},
		{"DELETE", "/secrets/down", nil},
		{"GET", "/macros", nil},
	}
	for _, c := range cases {
		r := h.do(c.method, basePath+c.path, tok, c.body)
		if r.status != http.StatusServiceUnavailable || r.errorCode() != errcode.StoreUnavailable {
			t.Errorf("%s %s with the store down: %d %q", c.method, c.path, r.status, r.errorCode())
		}
	}
	if r := h.do("GET", "/readyz", "", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the store down: %d", r.status)
	}
	if r := h.do("GET", "/healthz", "", nil); r.status != http.StatusOK {
		t.Errorf("healthz with the store down: %d", r.status)
	}
}
