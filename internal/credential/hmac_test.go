package credential_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/secret"
)

// The Standard Webhooks specification's published example.
const (
	swSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swTimestamp = 1614265330
	swPayload   = `{"test": 2432232314}`
	swSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func hmacObject(key, encoding string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"key": key, "encoding": encoding})
	return b
}

func signWith(t *testing.T, m *credential.Minter, directive string, obj json.RawMessage, r *credential.Request) credential.Edits {
	t.Helper()
	d, err := credential.ParseDirective(directive)
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.Sign(context.Background(), credential.SignRequest{Directive: d, Type: secret.TypeJSON, Kind: credential.KindHMACKey, Object: obj}, r)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestStandardWebhooksVector(t *testing.T) {
	m := newMinter(t, credential.Config{HTTPClient: http.DefaultClient, Now: func() time.Time { return time.Unix(swTimestamp, 0) }})
	r := &credential.Request{Method: "POST", Host: "hooks.example.com", Path: "/in",
		Header: http.Header{"Webhook-Id": {swMsgID}}, Body: []byte(swPayload)}
	e := signWith(t, m, "standard-webhooks secrets.wh", hmacObject(swSecret, "base64"), r)
	apply(r, e)
	if got := r.Header.Get("Webhook-Signature"); got != swSignature {
		t.Fatalf("signature %q, want the spec's %q", got, swSignature)
	}
	if got := r.Header.Get("Webhook-Timestamp"); got != "1614265330" {
		t.Fatalf("timestamp %q", got)
	}
}

func TestStandardWebhooksVerifiedByLibrary(t *testing.T) {
	m := newMinter(t, credential.Config{HTTPClient: http.DefaultClient})
	r := &credential.Request{Method: "POST", Host: "hooks.example.com", Path: "/in", Header: http.Header{},
		Body: []byte(`{"type":"order.paid","secret":"injected-value"}`)}
	apply(r, signWith(t, m, "standard-webhooks secrets.wh", hmacObject(swSecret, "base64"), r))
	if !strings.HasPrefix(r.Header.Get("Webhook-Id"), "msg_") {
		t.Fatalf("webhook-id %q not generated", r.Header.Get("Webhook-Id"))
	}
	wh, err := standardwebhooks.NewWebhook(swSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Fatalf("library refused the signature: %v", err)
	}
	if err := wh.Verify(append(r.Body, ' '), r.Header); err == nil {
		t.Fatal("library accepted a changed body")
	}
}

func TestHMACSHA256(t *testing.T) {
	m := newMinter(t, credential.Config{HTTPClient: http.DefaultClient})
	// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
	const rfc4231 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	body := []byte("what do ya want for nothing?")
	cases := []struct {
		name, directive, key, enc, header, want string
	}{
		{"raw key hex", "hmac-sha256 secrets.wh", "Jefe", "raw", "X-Signature", rfc4231},
		{"hex key, prefix", "hmac-sha256 secrets.wh; header=X-Hub-Signature-256; prefix=sha256=", hex.EncodeToString([]byte("Jefe")), "hex", "X-Hub-Signature-256", "sha256=" + rfc4231},
		{"base64 out", "hmac-sha256 secrets.wh; encoding=base64", "SmVmZQ==", "base64", "X-Signature", "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &credential.Request{Method: "POST", Host: "h", Path: "/", Header: http.Header{}, Body: body}
			apply(r, signWith(t, m, tc.directive, hmacObject(tc.key, tc.enc), r))
			if got := r.Header.Get(tc.header); got != tc.want {
				t.Fatalf("%s = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
	// The receiver's own check (crypto/hmac) over the body as sent.
	mac := hmac.New(sha256.New, []byte("Jefe"))
	mac.Write(body)
	if hex.EncodeToString(mac.Sum(nil)) != rfc4231 {
		t.Fatal("RFC 4231 vector")
	}
}

func TestSignRefusals(t *testing.T) {
	m := newMinter(t, credential.Config{HTTPClient: http.DefaultClient})
	const distinctive = "Distinctive-Token-Value-77"
	cases := []struct {
		name string
		req  credential.SignRequest
	}{
		{"token secret", credential.SignRequest{Type: secret.TypeToken}},
		{"json without kind", credential.SignRequest{Type: secret.TypeJSON, Object: json.RawMessage(`{"key":"` + distinctive + `"}`)}},
		{"other kind", credential.SignRequest{Type: secret.TypeJSON, Kind: credential.KindHMACKey, Object: hmacObject(distinctive, "raw")}},
		{"missing field", credential.SignRequest{Type: secret.TypeJSON, Kind: credential.KindAWSCredentials, Object: json.RawMessage(`{"access_key_id":"` + distinctive + `"}`)}},
	}
	d, _ := credential.ParseDirective("aws-sigv4 secrets.x; region=us-east-1; service=sns")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Directive = d
			_, err := m.Sign(context.Background(), tc.req, &credential.Request{Method: "GET", Host: "sns.us-east-1.amazonaws.com", Path: "/", Header: http.Header{}})
			if err == nil {
				t.Fatal("signed")
			}
			if strings.Contains(err.Error(), distinctive) {
				t.Fatalf("error leaks the value: %v", err)
			}
		})
	}
}

func TestParseDirective(t *testing.T) {
	good := []struct{ in, alg, alias string }{
		{"aws-sigv4 secrets.SES", "aws-sigv4", "ses"},
		{"  HMAC-SHA256   secrets.wh ; header=X-Sig ; prefix=sha256= ", "hmac-sha256", "wh"},
		{"standard-webhooks secrets.wh", "standard-webhooks", "wh"},
	}
	for _, g := range good {
		d, err := credential.ParseDirective(g.in)
		if err != nil || d.Algorithm != g.alg || d.Alias != g.alias {
			t.Errorf("%q: %+v %v", g.in, d, err)
		}
	}
	if d, _ := credential.ParseDirective("hmac-sha256 secrets.wh; prefix=sha256="); d.Params["prefix"] != "sha256=" {
		t.Errorf("prefix = %q", d.Params["prefix"])
	}
	for _, bad := range []string{"", "aws-sigv4", "aws-sigv4 ses", "rsa secrets.x", "aws-sigv4 secrets.x; header=y",
		"aws-sigv4 secrets.x; region", "aws-sigv4 secrets.x; region=a; region=b", "aws-sigv4 secrets.bad!alias", "aws-sigv4 secrets.a extra"} {
		if _, err := credential.ParseDirective(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
