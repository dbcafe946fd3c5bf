package adminapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// canary returns a distinctive value that nothing but a leak can produce.
func canary(t *testing.T, what string) string {
	t.Helper()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "LeakCanary" + what + hex.EncodeToString(b[:])
}

// leakScanner collects every byte the API emitted.
type leakScanner struct {
	seen []string // "where: text"
}

func (s *leakScanner) add(where string, r response) {
	var hdr []string
	for k, vs := range r.header {
		hdr = append(hdr, k+": "+strings.Join(vs, ", "))
	}
	sort.Strings(hdr)
	s.seen = append(s.seen, where+" headers: "+strings.Join(hdr, "\n"), where+" body: "+string(r.body))
}

// check fails for each needle found, naming where and its length only.
func (s *leakScanner) check(t *testing.T, needles map[string]string) {
	t.Helper()
	for name, n := range needles {
		for _, text := range s.seen {
			if strings.Contains(text, n) {
				where, _, _ := strings.Cut(text, ":")
				t.Errorf("value %s (%d bytes) leaked in %s", name, len(n), where)
			}
		}
	}
}

// runNoLeak creates secrets with distinctive values, exercises every
// endpoint, error path and the audit log, and asserts the values appear in
// no response body, header or log line.
func runNoLeak(t *testing.T, h *harness) {
	tok := orgAdmin(t, orgA)
	vals := map[string]string{
		"token": canary(t, "Tok"), "token2": canary(t, "TokTwo"), "user": canary(t, "User"),
		"pass": canary(t, "Pass"), "pass2": canary(t, "PassTwo"), "jsonval": canary(t, "Json"),
		"jsonnested": canary(t, "Nested"), "refused": canary(t, "Refused"), "badjson": canary(t, "BadJson"),
	}
	s := &leakScanner{}
	call := func(method, path string, body any) response {
		t.Helper()
		r := h.do(method, path, tok, body)
		s.add(method+" "+path, r)
		return r
	}
	expect := func(r response, status int) {
		t.Helper()
		if r.status != status {
			t.Errorf("status %d (%q), want %d", r.status, r.errorCode(), status)
		}
	}
	sec := basePath + "/secrets"

	expect(call("POST", sec, tokenBody("leak_tok", vals["token"])), 201)
	expect(call("POST", sec, upBody("leak_up", vals["user"], vals["pass"])), 201)
	expect(call("POST", sec, jsonBody("leak_json", map[string]any{
		"api_key": vals["jsonval"], "nested": map[string]any{"deep": vals["jsonnested"]}})), 201)
	expect(call("GET", sec, nil), 200)
	expect(call("GET", sec+"/leak_tok", nil), 200)
	expect(call("GET", sec+"/leak_up", nil), 200)
	expect(call("GET", sec+"/leak_json", nil), 200)
	expect(call("GET", basePath+"/macros", nil), 200)
	expect(call("PUT", sec+"/leak_tok", map[string]any{"value": map[string]any{"token": vals["token2"]}}), 200)
	expect(call("PUT", sec+"/leak_up", map[string]any{"value": map[string]any{"username": vals["user"], "password": vals["pass2"]}}), 200)

	// Error paths that carry a value.
	expect(call("POST", sec, tokenBody("leak_tok", vals["refused"])), 409)
	expect(call("POST", sec, tokenBody("bad alias!", vals["refused"])), 400)
	expect(call("POST", sec, map[string]any{"alias": "x1", "type": "token",
		"value": map[string]any{"token": vals["refused"], "password": vals["refused"]}}), 400)
	expect(call("POST", sec, map[string]any{"alias": "x2", "type": "nope", "value": map[string]any{"token": vals["refused"]}}), 400)
	expect(call("POST", sec, jsonBody("x3", "{\"k\": \""+vals["badjson"]+"\",}")), 400)
	expect(call("POST", sec, jsonBody("x4", "\""+vals["badjson"]+"\"")), 400)
	expect(call("POST", sec, `{"alias":"x5","type":"token","value":{"token":"`+vals["refused"]+`"}} trailing`), 400)
	expect(call("POST", sec, `{"alias":"x6","type":"token","value":{"token":`+vals["refused"]+`}}`), 400)
	expect(call("POST", sec, `{"alias":"x7","type":"token","value":{"token":["`+vals["refused"]+`"]}}`), 400)
	expect(call("POST", sec, tokenBody("x8", strings.Repeat(vals["refused"], int(h.api.maxValueBytes)/len(vals["refused"])+1))), 413)
	expect(call("PUT", sec+"/leak_tok", map[string]any{"type": "json", "value": map[string]any{"json": map[string]any{"k": vals["refused"]}}}), 409)
	expect(call("PUT", sec+"/leak_up", map[string]any{"value": map[string]any{"token": vals["refused"]}}), 400)
	r := h.do("POST", sec, "", tokenBody("x9", vals["refused"]))
	s.add("unauthenticated create", r)
	expect(r, 401)
	r = h.do("PUT", sec+"/leak_tok", orgAdmin(t, orgB), map[string]any{"value": map[string]any{"token": vals["refused"]}})
	s.add("forbidden rotate", r)
	expect(r, 403)

	expect(call("DELETE", sec+"/leak_tok", nil), 204)
	expect(call("DELETE", sec+"/leak_up", nil), 204)
	expect(call("DELETE", sec+"/leak_json", nil), 204)
	expect(call("GET", sec, nil), 200)
	expect(call("GET", "/v1/openapi.json", nil), 200)
	expect(call("GET", "/healthz", nil), 200)
	expect(call("GET", "/readyz", nil), 200)
	metrics := h.getOps(t, "/metrics")
	if metrics.status != http.StatusOK || !strings.Contains(string(metrics.body), "sidekey_admin_requests_total") {
		t.Fatalf("metrics: %d", metrics.status)
	}
	s.add("metrics", metrics)

	audit := h.logs.lines(t, "audit")
	if len(audit) < 10 {
		t.Errorf("%d audit lines, want one per mutation attempt", len(audit))
	}
	s.seen = append(s.seen, "logs: "+h.logs.String())

	needles := map[string]string{}
	for k, v := range vals {
		needles[k] = v
		needles[k+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	needles["basic"] = base64.StdEncoding.EncodeToString([]byte(vals["user"] + ":" + vals["pass"]))
	// A part of a value is a leak too.
	for k, v := range vals {
		needles[k+" (tail)"] = v[len(v)-12:]
	}
	s.check(t, needles)
	if t.Failed() {
		return
	}
	// The scan itself works: the aliases are there.
	if !strings.Contains(h.logs.String(), "leak_tok") {
		t.Errorf("the logs do not name the alias: the scan looked at nothing")
	}
}
