package proxy

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sidekey/sidekey/internal/credential/credtest"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/testbin"
)

const (
	fcmScope     = "https://www.googleapis.com/auth/firebase.messaging"
	fcmEmail     = "sender@sidekey-e2e.iam.gserviceaccount.com"
	tokenHost    = "oauth2.upstream.test"
	awsKeyID     = "AKIASIDEKEYE2E000001"
	awsSecretKey = "e2e/Distinctive+AwsSecretKey/000001"
	hookSecret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// credEnv is a real dev Vault, a proxy reading it, a Google-style token
// endpoint and a log sink, for the derived-credential tests.
type credEnv struct {
	v     *vaultEnv
	tp    *testProxy
	token *credtest.GoogleTokenServer
	sa    *credtest.RSAKey
	logs  *testbin.Output
}

func startCredEnv(t *testing.T) *credEnv {
	t.Helper()
	v := startVault(t)
	logs := &testbin.Output{}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(logs), zap.DebugLevel))
	tp := startProxyWithLogger(t, log, func(c *Config) {
		c.Resolver = v.cache
		c.Ping = v.side.Ping
		c.Registerer = v.reg
	})
	srv := credtest.StartGoogleTokenServer(fcmEmail, fcmScope, 3600,
		&tls.Config{Certificates: []tls.Certificate{upstreamCert(t, tokenHost)}}, "")
	t.Cleanup(srv.Close)
	sa := credtest.NewRSAKey(t, "kid-e2e-1")
	srv.AddKey(sa)
	e := &credEnv{v: v, tp: tp, token: srv, sa: sa, logs: logs}
	srv.SetAudience(e.tokenURI())
	return e
}

func (e *credEnv) tokenURI() string {
	_, port, _ := net.SplitHostPort(e.token.Listener.Addr().String())
	return "https://" + tokenHost + ":" + port + "/token"
}

func (e *credEnv) createKind(t *testing.T, alias, kind string, obj json.RawMessage, hosts []string) {
	t.Helper()
	_, err := e.v.admin.Create(context.Background(), testTenant, secret.CreateInput{
		Alias: alias, Type: secret.TypeJSON, Kind: kind, Value: secret.Value{JSON: obj}, AllowedHosts: hosts, Actor: "cred-e2e",
	})
	if err != nil {
		t.Fatalf("create %s: %v", alias, err)
	}
}

// answer is a response as the sender saw it.
type answer struct {
	StatusCode int
	Header     http.Header
}

// do sends req through the proxy as the test tenant.
func (e *credEnv) do(t *testing.T, req *http.Request) (answer, []byte) {
	t.Helper()
	resp, err := e.tp.client(testTenant).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return answer{StatusCode: resp.StatusCode, Header: resp.Header}, body
}

// TestE2EGoogleAccessToken: an FCM-style request gets an access token the
// endpoint issued for the service account's key; the token never reaches
// the sender, even when the upstream echoes it.
func TestE2EGoogleAccessToken(t *testing.T) {
	e := startCredEnv(t)
	e.createKind(t, "fcm", "google_service_account", credtest.ServiceAccountJSON(t, fcmEmail, e.tokenURI(), e.sa), nil)
	up := newUpstream(t, true)
	var seen []string
	up.answer = func(w http.ResponseWriter, r *http.Request, _ []byte) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		seen = append(seen, tok)
		if e.token.KeyOf(tok) != "kid-e2e-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"name":"projects/p/messages/1","echo":"` + tok + `"}`))
	}
	for i := 0; i < 3; i++ {
		req := mustReq("POST", up.url("/v1/projects/p/messages:send"), []byte(`{"message":{"token":"device"}}`), "application/json")
		req.Header.Set("Authorization", `Bearer {{secrets.fcm | google_access_token("`+fcmScope+`")}}`)
		resp, body := e.do(t, req)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if bytes.Contains(body, []byte(seen[len(seen)-1])) {
			t.Fatal("the derived token reached the sender in the response")
		}
	}
	if n := e.token.Exchanges(); n != 1 {
		t.Fatalf("token endpoint saw %d exchanges for 3 requests, want 1", n)
	}
	m := e.tp.metrics(t)
	for _, want := range []string{`sidekey_credential_exchanges_total{kind="google_service_account",outcome="ok"} 1`,
		`sidekey_credential_token_cache_hits_total{kind="google_service_account"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	assertAbsent(t, e, append(seen, e.sa.PEM[40:80])...)
}

// TestE2EAPNsJWT: the upstream verifies the ES256 provider token with the
// public key (go-jose) the way APNs does.
func TestE2EAPNsJWT(t *testing.T) {
	e := startCredEnv(t)
	key := credtest.NewECKey(t)
	e.createKind(t, "apns", "apns_key", credtest.APNsKeyJSON(t, "TEAME2E001", "KEYE2E0001", key), nil)
	up := newUpstream(t, true)
	var tok string
	up.answer = func(w http.ResponseWriter, r *http.Request, _ []byte) {
		tok = r.Header.Get("Authorization")
		if err := credtest.VerifyAPNs(tok, &key.Private.PublicKey, "TEAME2E001", "KEYE2E0001", time.Now()); err != nil {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"reason":"InvalidProviderToken"}`))
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	req := mustReq("POST", up.url("/3/device/abcdef"), []byte(`{"aps":{"alert":"hi"}}`), "application/json")
	req.Header.Set("Authorization", "bearer {{secrets.apns | apns_jwt}}")
	if resp, body := e.do(t, req); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	assertAbsent(t, e, strings.TrimPrefix(tok, "bearer "), key.PEM[40:80])
}

// TestE2ESigV4Botocore: a request signed by the proxy (from scratch, and
// replacing an SDK's placeholder signature) verifies with botocore at the
// upstream, over the body after injection.
func TestE2ESigV4Botocore(t *testing.T) {
	e := startCredEnv(t)
	obj, _ := json.Marshal(map[string]string{"access_key_id": awsKeyID, "secret_access_key": awsSecretKey, "region": "eu-west-1"})
	e.createKind(t, "sns", "aws_credentials", obj, nil)
	e.v.create(t, testTenant, "topic", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: "arn:aws:sns:eu-west-1:1:injected-topic"}})
	up := newUpstream(t, true)
	var verdicts []string
	up.answer = func(w http.ResponseWriter, r *http.Request, body []byte) {
		ok, verdict := botocoreCheck(t, r, body, awsKeyID, awsSecretKey)
		verdicts = append(verdicts, verdict)
		if !ok {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("<PublishResponse/>"))
	}
	for _, sdk := range []bool{false, true} {
		req := mustReq("POST", up.url("/?x=1"), []byte("Action=Publish&Message=hi&TopicArn={{secrets.topic | urlencode}}"), "application/x-www-form-urlencoded")
		req.Header.Set("Sidekey-Sign", "aws-sigv4 secrets.sns; region=eu-west-1; service=sns")
		if sdk {
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=PLACEHOLDER/20200101/eu-west-1/sns/aws4_request, SignedHeaders=host, Signature=00")
			req.Header.Set("X-Amz-Date", "20200101T000000Z")
		}
		resp, body := e.do(t, req)
		if resp.StatusCode != 200 {
			t.Fatalf("sdk=%v: status %d: %s (botocore: %v)", sdk, resp.StatusCode, body, verdicts)
		}
	}
	for _, r := range up.requests() {
		if r.Header.Get("Sidekey-Sign") != "" {
			t.Fatal("Sidekey-Sign reached the upstream")
		}
	}
	assertAbsent(t, e, awsSecretKey)
}

// botocoreCheck runs internal/credential's botocore verifier on a request
// as the upstream received it.
func botocoreCheck(t *testing.T, r *http.Request, body []byte, akid, secretKey string) (bool, string) {
	var headers [][2]string
	headers = append(headers, [2]string{"Host", r.Host})
	for name, values := range r.Header {
		for _, v := range values {
			headers = append(headers, [2]string{name, v})
		}
	}
	if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		headers = append(headers, [2]string{"Content-Length", strconv.FormatInt(r.ContentLength, 10)})
	}
	in, _ := json.Marshal(map[string]any{
		"method": r.Method, "url": "https://" + r.Host + r.RequestURI, "headers": headers,
		"body_b64": base64.StdEncoding.EncodeToString(body), "access_key_id": akid, "secret_access_key": secretKey,
	})
	cmd := exec.Command("/usr/bin/python3", "../internal/credential/testdata/verify_sigv4.py")
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(cmd.Environ(), "SIGV4_DEBUG=1")
	out, _ := cmd.CombinedOutput()
	v := strings.TrimSpace(string(out))
	return v == "ok", v
}

// TestE2EStandardWebhook: the receiving upstream verifies the webhook with
// the Standard Webhooks library, over the body after injection.
func TestE2EStandardWebhook(t *testing.T) {
	e := startCredEnv(t)
	obj, _ := json.Marshal(map[string]string{"key": hookSecret, "encoding": "base64"})
	e.createKind(t, "wh", "hmac_key", obj, nil)
	e.v.create(t, testTenant, "plain", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	wh, err := standardwebhooks.NewWebhook(hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t, true)
	up.answer = func(w http.ResponseWriter, r *http.Request, body []byte) {
		if !bytes.Contains(body, []byte(simpleValue)) || wh.Verify(body, r.Header) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	req := mustReq("POST", up.url("/hooks"), []byte(`{"type":"order.paid","ref":"{{secrets.plain}}"}`), "application/json")
	req.Header.Set("Sidekey-Sign", "standard-webhooks secrets.wh")
	if resp, body := e.do(t, req); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

// TestE2ECredentialFailClosed: each failure gets its code, the upstream
// receives nothing, and no key or token appears in logs, metrics or the
// response.
func TestE2ECredentialFailClosed(t *testing.T) {
	e := startCredEnv(t)
	uri := e.tokenURI()
	goodSA := credtest.ServiceAccountJSON(t, fcmEmail, uri, e.sa)
	e.createKind(t, "fcm", "google_service_account", goodSA, nil)
	e.createKind(t, "fcm-hosts", "google_service_account", goodSA, []string{upstreamHost})
	other := credtest.NewRSAKey(t, "kid-unknown")
	e.createKind(t, "fcm-unknown-key", "google_service_account", credtest.ServiceAccountJSON(t, fcmEmail, uri, other), nil)
	var bad map[string]any
	_ = json.Unmarshal(goodSA, &bad)
	bad["private_key"] = "-----BEGIN PRIVATE KEY-----\nDistinctiveBrokenKeyMaterial0001\n-----END PRIVATE KEY-----\n"
	badJSON, _ := json.Marshal(bad)
	e.createKind(t, "fcm-malformed", "google_service_account", badJSON, nil)
	delete(bad, "client_email")
	bad["private_key"] = e.sa.PEM
	missing, _ := json.Marshal(bad)
	e.createKind(t, "fcm-missing", "google_service_account", missing, nil)
	e.v.create(t, testTenant, "plain", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})

	up := newUpstream(t, true)
	bearer := func(alias string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set("Authorization", `Bearer {{secrets.`+alias+` | google_access_token("`+fcmScope+`")}}`)
		}
	}
	cases := []struct {
		name   string
		set    func(*http.Request)
		before func()
		code   Code
		status int
	}{
		{"endpoint refuses the key (400)", bearer("fcm-unknown-key"), nil, "credential_exchange_failed", 502},
		{"endpoint 401", bearer("fcm"), func() { e.token.SetMode(credtest.Status401) }, "credential_exchange_failed", 502},
		{"malformed key", bearer("fcm-malformed"), nil, "invalid_credential", 422},
		{"missing field", bearer("fcm-missing"), nil, "invalid_credential", 422},
		{"token endpoint not in allowed_hosts", bearer("fcm-hosts"), nil, CodeHostNotAllowed, 403},
		{"signing with a token secret", func(r *http.Request) { r.Header.Set("Sidekey-Sign", "hmac-sha256 secrets.plain") }, nil, "signing_failed", 422},
		{"two signing directives", func(r *http.Request) {
			r.Header.Add("Sidekey-Sign", "hmac-sha256 secrets.plain")
			r.Header.Add("Sidekey-Sign", "standard-webhooks secrets.plain")
		}, nil, "signing_failed", 422},
		{"malformed signing directive", func(r *http.Request) { r.Header.Set("Sidekey-Sign", "rsa-sha1 secrets.plain") }, nil, "signing_failed", 422},
		{"token filter on a token secret", bearer("plain"), nil, "invalid_credential", 422},
		{"endpoint down", bearer("fcm"), func() { e.token.SetMode(credtest.Normal); e.token.Close() }, "credential_exchange_failed", 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			before := up.count()
			req := mustReq("POST", up.url("/v1/send"), []byte(`{"m":1}`), "application/json")
			tc.set(req)
			resp, body := e.do(t, req)
			if resp.StatusCode != tc.status || resp.Header.Get("Sidekey-Error") != string(tc.code) {
				t.Fatalf("status %d code %q, want %d %q: %s", resp.StatusCode, resp.Header.Get("Sidekey-Error"), tc.status, tc.code, body)
			}
			if up.count() != before {
				t.Fatal("the upstream received the request")
			}
			for _, v := range []string{"endpoint body", e.sa.PEM[40:80], "DistinctiveBrokenKeyMaterial0001", simpleValue} {
				if bytes.Contains(body, []byte(v)) {
					t.Fatalf("the response holds a key, a token or the endpoint's body: %s", body)
				}
			}
		})
	}
	assertAbsent(t, e, e.sa.PEM[40:80], other.PEM[40:80], "DistinctiveBrokenKeyMaterial0001", simpleValue, "endpoint body")
}

// assertAbsent greps the proxy's logs and metrics for values.
func assertAbsent(t *testing.T, e *credEnv, values ...string) {
	t.Helper()
	logs := e.logs.String()
	if len(logs) >= 1<<20 {
		t.Fatal("the logs outgrew the first MiB that testbin.Output keeps: a value could hide past it")
	}
	m := e.tp.metrics(t)
	for _, v := range values {
		if v == "" {
			continue
		}
		if strings.Contains(logs, v) {
			t.Errorf("a value (%d bytes) appears in the logs", len(v))
		}
		if strings.Contains(m, v) {
			t.Errorf("a value (%d bytes) appears in the metrics", len(v))
		}
	}
}

// TestE2EGoogleKeyRotation: after the service-account key is rotated
// through the store, the next requests use a token obtained with the new
// key within 2 s (the change feed and the version in the token cache key).
func TestE2EGoogleKeyRotation(t *testing.T) {
	e := startCredEnv(t)
	e.createKind(t, "fcm", "google_service_account", credtest.ServiceAccountJSON(t, fcmEmail, e.tokenURI(), e.sa), nil)
	up := newUpstream(t, true)
	send := func() string {
		req := mustReq("POST", up.url("/v1/projects/p/messages:send"), []byte(`{}`), "application/json")
		req.Header.Set("Authorization", `Bearer {{secrets.fcm | google_access_token("`+fcmScope+`")}}`)
		if resp, body := e.do(t, req); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		reqs := up.requests()
		return e.token.KeyOf(strings.TrimPrefix(reqs[len(reqs)-1].Header.Get("Authorization"), "Bearer "))
	}
	if kid := send(); kid != "kid-e2e-1" {
		t.Fatalf("first token from %q", kid)
	}
	next := credtest.NewRSAKey(t, "kid-e2e-2")
	e.token.AddKey(next)
	if _, err := e.v.admin.Rotate(context.Background(), testTenant, "fcm", secret.RotateInput{
		Value: secret.Value{JSON: credtest.ServiceAccountJSON(t, fcmEmail, e.tokenURI(), next)}, Actor: "cred-e2e"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	kid := send()
	for kid != "kid-e2e-2" && time.Since(start) < 2*time.Second {
		time.Sleep(100 * time.Millisecond)
		kid = send()
	}
	if kid != "kid-e2e-2" {
		t.Fatalf("2 s after the rotation the upstream still gets tokens from %q", kid)
	}
	e.token.RevokeKey("kid-e2e-1")
	if kid := send(); kid != "kid-e2e-2" {
		t.Fatalf("after revoking the old key: %q", kid)
	}
}

// TestE2EAPNsOverHTTP2: an APNs-style upstream that speaks HTTP/2 only gets
// the provider token over h2 from an h2 sender, and verifies it.
func TestE2EAPNsOverHTTP2(t *testing.T) {
	e := startCredEnv(t)
	key := credtest.NewECKey(t)
	e.createKind(t, "apns", "apns_key", credtest.APNsKeyJSON(t, "TEAME2E002", "KEYE2E0002", key), nil)
	var protos []int
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos = append(protos, r.ProtoMajor)
		mu.Unlock()
		if r.ProtoMajor != 2 {
			w.WriteHeader(http.StatusHTTPVersionNotSupported)
			return
		}
		if err := credtest.VerifyAPNs(r.Header.Get("Authorization"), &key.Private.PublicKey, "TEAME2E002", "KEYE2E0002", time.Now()); err != nil {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("apns-id", "e2e")
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{upstreamCert(t, "api.push.upstream.test")}, NextProtos: []string{"h2"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	req := mustReq("POST", "https://api.push.upstream.test:"+port+"/3/device/abc", []byte(`{"aps":{"alert":"hi"}}`), "application/json")
	req.Header.Set("Authorization", "bearer {{secrets.apns | apns_jwt}}")
	resp, body := e.do(t, req)
	if resp.StatusCode != 200 || resp.Header.Get("Apns-Id") != "e2e" {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(protos) != 1 || protos[0] != 2 {
		t.Fatalf("upstream protocols %v, want one HTTP/2 request", protos)
	}
}

// TestE2EHMACSignature: an hmac-sha256 directive with a header, prefix and
// encoding; the upstream recomputes the HMAC over the body it received.
func TestE2EHMACSignature(t *testing.T) {
	e := startCredEnv(t)
	const key = "e2e-Distinctive-Hmac-Key-0001"
	obj, _ := json.Marshal(map[string]string{"key": hex.EncodeToString([]byte(key)), "encoding": "hex"})
	e.createKind(t, "gh", "hmac_key", obj, nil)
	e.v.create(t, testTenant, "plain", secret.Secret{Type: secret.TypeToken, Value: secret.Value{Token: simpleValue}})
	up := newUpstream(t, true)
	up.answer = func(w http.ResponseWriter, r *http.Request, body []byte) {
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !bytes.Contains(body, []byte(simpleValue)) || !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(want)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	req := mustReq("POST", up.url("/hook"), []byte(`{"action":"opened","token":"{{secrets.plain}}"}`), "application/json")
	req.Header.Set("Sidekey-Sign", "hmac-sha256 secrets.gh; header=X-Hub-Signature-256; encoding=hex; prefix=sha256=")
	if resp, body := e.do(t, req); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	assertAbsent(t, e, key)
}
