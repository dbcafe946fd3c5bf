package proxy

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"
)

// Values of the matrix's secrets. Test failures print their hashes, never
// the values.
const (
	simpleValue = "wx-7Hq2P9vL3mK8sT1r"
	trickyValue = `a b/c?d&e"f<g>h\i+j=k;l#m`
	upUser      = "AC0123456789"
	upPass      = `p@ss:w0rd/"x`
	cfgKey      = "k-1234567890abcdef"
)

var cfgJSON = `{"region":"eu","api":{"key":"` + cfgKey + `"}}`

func fp(b []byte) string { return fmt.Sprintf("%d bytes sha256:%x", len(b), sha256.Sum256(b)) }

// matrixSecrets returns the secrets the matrix uses, by alias.
func matrixSecrets() map[string]secret.Secret {
	return map[string]secret.Secret{
		"weather_fx": {Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}},
		"tricky":     {Type: secret.TypeToken, Value: secret.Value{Token: trickyValue}},
		"twilio":     {Type: secret.TypeUsernamePassword, Value: secret.Value{Username: upUser, Password: upPass}},
		"cfg":        {Type: secret.TypeJSON, Value: secret.Value{JSON: json.RawMessage(cfgJSON)}},
	}
}

// sender sends one request through the proxy in one routing mode.
type sender struct {
	name  string
	https bool
	send  func(t *testing.T, tp *testProxy, req *http.Request) (*http.Response, []byte)
}

func senders() []sender {
	viaClient := func(t *testing.T, tp *testProxy, req *http.Request) (*http.Response, []byte) {
		t.Helper()
		return clientRequest(t, tp, req, testTenant)
	}
	viaAbsolute := func(t *testing.T, tp *testProxy, req *http.Request) (*http.Response, []byte) {
		t.Helper()
		return absoluteRequest(t, tp, req, &testTenant)
	}
	return []sender{
		{"CONNECT", true, viaClient},
		{"absolute-https", true, viaAbsolute},
		{"absolute-http", false, viaClient},
	}
}

// echoAnswer makes the upstream answer with the body it received and
// echo the Authorization header, so scrubbing can be checked.
func echoAnswer(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
	if ce := r.Header.Get("Content-Encoding"); ce != "" {
		w.Header().Set("Content-Encoding", ce)
	}
	w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
	_, _ = w.Write(body)
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzip(t *testing.T, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("upstream body is not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// matrixCase is one placement of placeholders and how to check what the
// upstream received and what the sender got back.
type matrixCase struct {
	name  string
	build func(base string) *http.Request
	check func(t *testing.T, got recorded)
	// scrubbed checks the sender's view of the response (optional).
	scrubbed func(t *testing.T, resp *http.Response, body []byte)
}

func mustReq(method, u string, body []byte, ct string) *http.Request {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		panic(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return req
}

func wantEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %s, want %s", what, fp(got), fp(want))
	}
}

func noPlaceholder(t *testing.T, got recorded) {
	t.Helper()
	all := got.URI + string(got.Body)
	for k, vs := range got.Header {
		all += k + strings.Join(vs, ",")
	}
	if strings.Contains(all, "{{") || strings.Contains(strings.ToUpper(all), "%7B%7B") {
		t.Fatal("a literal placeholder reached the upstream")
	}
}

func matrixCases(t *testing.T) []matrixCase {
	const jsonBody = `{"to":"+15550100","auth":"{{secrets.tricky}}","cfg":{{secrets.cfg}},"key":"{{ secrets.cfg.api.key }}"}`
	return []matrixCase{
		{
			name: "header",
			build: func(base string) *http.Request {
				r := mustReq("GET", base+"/h", nil, "")
				r.Header.Set("Authorization", "Bearer {{secrets.weather_fx}}")
				r.Header.Set("X-Basic", "Basic {{secrets.twilio | basic}}")
				return r
			},
			check: func(t *testing.T, got recorded) {
				wantEqual(t, "Authorization", []byte(got.Header.Get("Authorization")), []byte("Bearer "+simpleValue))
				wantEqual(t, "X-Basic", []byte(got.Header.Get("X-Basic")), []byte("Basic "+b64(upUser+":"+upPass)))
			},
			scrubbed: func(t *testing.T, resp *http.Response, _ []byte) {
				if got := resp.Header.Get("X-Echo-Auth"); got != "Bearer {{secrets.weather_fx}}" {
					t.Fatalf("response header not scrubbed: %s", fp([]byte(got)))
				}
			},
		},
		{
			name: "query",
			build: func(base string) *http.Request {
				return mustReq("GET", base+"/q?key={{secrets.weather_fx}}&t={{secrets.tricky}}", nil, "")
			},
			check: func(t *testing.T, got recorded) {
				u, _ := url.Parse(got.URI)
				wantEqual(t, "raw query key", []byte(strings.SplitN(u.RawQuery, "&", 2)[0]), []byte("key="+simpleValue))
				q, err := url.ParseQuery(u.RawQuery)
				if err != nil {
					t.Fatal(err)
				}
				wantEqual(t, "query t", []byte(q.Get("t")), []byte(trickyValue))
			},
		},
		{
			name: "path",
			build: func(base string) *http.Request {
				return mustReq("GET", base+"/v1/{{secrets.weather_fx}}/{{secrets.tricky}}/end", nil, "")
			},
			check: func(t *testing.T, got recorded) {
				path, _, _ := strings.Cut(got.URI, "?")
				segs := strings.Split(path, "/")
				if len(segs) != 5 {
					t.Fatalf("path has %d segments, want 5 (a value was not escaped as one segment)", len(segs))
				}
				wantEqual(t, "segment 2", []byte(segs[2]), []byte(simpleValue))
				dec, err := url.PathUnescape(segs[3])
				if err != nil {
					t.Fatal(err)
				}
				wantEqual(t, "segment 3", []byte(dec), []byte(trickyValue))
			},
		},
		{
			name: "json",
			build: func(base string) *http.Request {
				return mustReq("POST", base+"/j", []byte(jsonBody), "application/json")
			},
			check: func(t *testing.T, got recorded) {
				var v struct {
					Auth string          `json:"auth"`
					Cfg  json.RawMessage `json:"cfg"`
					Key  string          `json:"key"`
				}
				if err := json.Unmarshal(got.Body, &v); err != nil {
					t.Fatalf("upstream body is not JSON: %v", err)
				}
				wantEqual(t, "auth (string position)", []byte(v.Auth), []byte(trickyValue))
				wantEqual(t, "cfg (value position)", v.Cfg, []byte(cfgJSON))
				wantEqual(t, "key (json field)", []byte(v.Key), []byte(cfgKey))
			},
			scrubbed: func(t *testing.T, _ *http.Response, body []byte) {
				if bytes.Contains(body, []byte(cfgKey)) || bytes.Contains(body, []byte(`f<g>h`)) {
					t.Fatal("an injected value came back to the sender")
				}
				if !bytes.Contains(body, []byte("{{secrets.tricky}}")) {
					t.Fatalf("response body does not show the placeholder: %s", fp(body))
				}
			},
		},
		{
			name: "form",
			build: func(base string) *http.Request {
				return mustReq("POST", base+"/f", []byte("a={{secrets.tricky}}&b=plain"), "application/x-www-form-urlencoded")
			},
			check: func(t *testing.T, got recorded) {
				q, err := url.ParseQuery(string(got.Body))
				if err != nil {
					t.Fatal(err)
				}
				wantEqual(t, "form a", []byte(q.Get("a")), []byte(trickyValue))
				wantEqual(t, "form b", []byte(q.Get("b")), []byte("plain"))
			},
		},
		{
			name: "xml",
			build: func(base string) *http.Request {
				return mustReq("POST", base+"/x", []byte("<r><k>{{secrets.tricky}}</k></r>"), "application/xml")
			},
			check: func(t *testing.T, got recorded) {
				var v struct {
					K string `xml:"k"`
				}
				if err := xml.Unmarshal(got.Body, &v); err != nil {
					t.Fatalf("upstream body is not XML: %v", err)
				}
				wantEqual(t, "xml k", []byte(v.K), []byte(trickyValue))
			},
		},
		{
			name: "multipart",
			build: func(base string) *http.Request {
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				_ = mw.WriteField("token", "{{secrets.tricky}}")
				_ = mw.WriteField("other", "x")
				_ = mw.Close()
				return mustReq("POST", base+"/m", buf.Bytes(), mw.FormDataContentType())
			},
			check: func(t *testing.T, got recorded) {
				_, params, err := mime.ParseMediaType(got.Header.Get("Content-Type"))
				if err != nil {
					t.Fatal(err)
				}
				mr := multipart.NewReader(bytes.NewReader(got.Body), params["boundary"])
				part, err := mr.NextPart()
				if err != nil {
					t.Fatal(err)
				}
				v, _ := io.ReadAll(part)
				wantEqual(t, "part token", v, []byte(trickyValue))
			},
		},
		{
			name: "gzip",
			build: func(base string) *http.Request {
				r := mustReq("POST", base+"/g", gz(t, []byte(jsonBody)), "application/json")
				r.Header.Set("Content-Encoding", "gzip")
				return r
			},
			check: func(t *testing.T, got recorded) {
				if got.Header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("Content-Encoding %q", got.Header.Get("Content-Encoding"))
				}
				var v struct {
					Auth string          `json:"auth"`
					Cfg  json.RawMessage `json:"cfg"`
				}
				if err := json.Unmarshal(gunzip(t, got.Body), &v); err != nil {
					t.Fatal(err)
				}
				wantEqual(t, "gzip auth", []byte(v.Auth), []byte(trickyValue))
				wantEqual(t, "gzip cfg", v.Cfg, []byte(cfgJSON))
			},
		},
	}
}

// runMatrix sends every case in every routing mode and checks the bytes
// the upstream received and the scrubbed answer the sender got.
func runMatrix(t *testing.T, tp *testProxy, tlsUp, plainUp *upstream) {
	tlsUp.answer, plainUp.answer = echoAnswer, echoAnswer
	for _, s := range senders() {
		up := tlsUp
		if !s.https {
			up = plainUp
		}
		for _, mc := range matrixCases(t) {
			t.Run(s.name+"/"+mc.name, func(t *testing.T) {
				before := up.count()
				resp, body := s.send(t, tp, mc.build(strings.TrimSuffix(up.url(""), "/"))) //nolint:bodyclose // the helper read and closed the body
				mc.checkAnswer(t, up, before, resp, body)
			})
		}
	}
}

// checkAnswer checks a sent case: a 200, one more request at up (before
// is the count before sending) with the values injected and no
// placeholder left, and an answer that carries no value back.
func (mc matrixCase) checkAnswer(t *testing.T, up *upstream, before int, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d Sidekey-Error %q: %s", resp.StatusCode, resp.Header.Get("Sidekey-Error"), body)
	}
	reqs := up.requests()
	if len(reqs) != before+1 {
		t.Fatalf("upstream got %d requests, want 1", len(reqs)-before)
	}
	got := reqs[len(reqs)-1]
	noPlaceholder(t, got)
	mc.check(t, got)
	for _, v := range []string{simpleValue, trickyValue, upPass, cfgKey} {
		if bytes.Contains(body, []byte(v)) || strings.Contains(fmt.Sprint(resp.Header), v) {
			t.Fatalf("an injected value (%s) came back to the sender unscrubbed", fp([]byte(v)))
		}
	}
	if mc.scrubbed != nil && resp.Header.Get("Content-Encoding") == "" {
		mc.scrubbed(t, resp, body)
	}
}

// TestInjectionMetricsByLocation sends one request with placeholders in
// every location and checks that sidekey_proxy_injections_total counts
// each value once, under the location it went to.
func TestInjectionMetricsByLocation(t *testing.T) {
	tp := startProxy(t, nil)
	for alias, s := range matrixSecrets() {
		tp.resolver.put(testTenant, alias, s)
	}
	up := newUpstream(t, true)
	body := `{"a":"{{secrets.weather_fx}}","b":"{{secrets.tricky}}","c":"{{secrets.cfg.api.key}}"}`
	req := mustReq("POST", up.url("/v1/{{secrets.weather_fx}}/x?k={{secrets.weather_fx}}&t={{secrets.tricky}}"), []byte(body), "application/json")
	req.Header.Set("Authorization", "Bearer {{secrets.weather_fx}}")
	if resp, body := clientRequest(t, tp, req, testTenant); resp.StatusCode != http.StatusOK { //nolint:bodyclose // the helper read and closed the body
		t.Fatalf("status %d Sidekey-Error %q: %s", resp.StatusCode, resp.Header.Get("Sidekey-Error"), body)
	}
	noPlaceholder(t, up.requests()[0])
	for loc, want := range map[string]float64{"path": 1, "query": 2, "header": 1, "body": 3} {
		sample := `sidekey_proxy_injections_total{location="` + loc + `"}`
		if got := metricValue(t, tp, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
}

func TestInjectionMatrixFakeResolver(t *testing.T) {
	tp := startProxy(t, func(c *Config) { c.AllowPlainHTTPInjection = true })
	for alias, s := range matrixSecrets() {
		tp.resolver.put(testTenant, alias, s)
	}
	runMatrix(t, tp, newUpstream(t, true), newUpstream(t, false))
}
