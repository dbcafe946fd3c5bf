package credential_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/secret"
)

// systemPython is Debian's interpreter, where python3-botocore installs.
const systemPython = "/usr/bin/python3"

// botocoreVerify recomputes the SigV4 signature of a request as sent with
// botocore (scripts/deps.sh installs python3-botocore) and returns its
// verdict.
func botocoreVerify(t *testing.T, url string, r *credential.Request, akid, secretKey, token string) (bool, string) {
	t.Helper()
	if _, err := os.Stat(systemPython); err != nil {
		t.Fatalf("%s missing: run make deps", systemPython)
	}
	var headers [][2]string
	headers = append(headers, [2]string{"Host", r.Host})
	if len(r.Body) > 0 { // as the wire carries it
		headers = append(headers, [2]string{"Content-Length", strconv.Itoa(len(r.Body))})
	}
	for name, values := range r.Header {
		for _, v := range values {
			headers = append(headers, [2]string{name, v})
		}
	}
	in, _ := json.Marshal(map[string]any{
		"method": r.Method, "url": url, "headers": headers, "body_b64": base64.StdEncoding.EncodeToString(r.Body),
		"access_key_id": akid, "secret_access_key": secretKey, "session_token": token,
	})
	cmd := exec.Command(systemPython, "testdata/verify_sigv4.py")
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("botocore verifier: %v", err)
		}
	}
	verdict := strings.TrimSpace(string(out))
	if strings.Contains(verdict, "Traceback") {
		t.Fatalf("botocore verifier crashed: %s", verdict)
	}
	return verdict == "ok", verdict
}

func apply(r *credential.Request, e credential.Edits) {
	for _, d := range e.Del {
		r.Header.Del(d)
	}
	for _, f := range e.Set {
		r.Header.Set(f.Name, f.Value)
	}
}

func TestSigV4VerifiedByBotocore(t *testing.T) {
	const (
		akid      = "AKIASIDEKEYTEST00001"
		secretKey = "sidekey/Distinctive+SecretAccessKey0001"
		token     = "FwoGZXIvYXdzEDistinctiveSessionToken0001"
	)
	obj, _ := json.Marshal(map[string]string{"access_key_id": akid, "secret_access_key": secretKey, "session_token": token, "region": "eu-west-1"})
	m := newMinter(t, credential.Config{HTTPClient: http.DefaultClient})
	cases := []struct {
		name      string
		directive string
		req       func() *credential.Request
		url       string
	}{
		{"ses from scratch", "aws-sigv4 secrets.ses", func() *credential.Request {
			return &credential.Request{Method: "POST", Host: "email.eu-west-1.amazonaws.com", Path: "/", Header: http.Header{
				"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}, "User-Agent": {"sender/1.0"},
			}, Body: []byte("Action=SendEmail&Destination.ToAddresses.member.1=a%40example.com&Message.Body.Text.Data=hi")}
		}, "https://email.eu-west-1.amazonaws.com/"},
		{"sdk placeholder replaced", "aws-sigv4 secrets.sns", func() *credential.Request {
			return &credential.Request{Method: "POST", Host: "sns.eu-west-1.amazonaws.com", Path: "/", Header: http.Header{
				"Content-Type":         {"application/x-www-form-urlencoded"},
				"Authorization":        {"AWS4-HMAC-SHA256 Credential=PLACEHOLDER/20200101/eu-west-1/sns/aws4_request, SignedHeaders=host, Signature=00"},
				"X-Amz-Date":           {"20200101T000000Z"},
				"X-Amz-Security-Token": {"placeholder"},
				"X-Amz-Content-Sha256": {"0000000000000000000000000000000000000000000000000000000000000000"},
			}, Body: []byte("Action=Publish&Message=injected%20value&TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A1%3At")}
		}, "https://sns.eu-west-1.amazonaws.com/"},
		{"path and query, region param", "aws-sigv4 secrets.api; region=us-west-2; service=execute-api", func() *credential.Request {
			return &credential.Request{Method: "GET", Host: "api.example.com:8443", Path: "/v1/items/a%20b/caf%C3%A9", Query: "z=1&a=%2Fx&a=2",
				Header: http.Header{"X-Custom": {"  spaced   value "}}}
		}, "https://api.example.com:8443/v1/items/a%20b/caf%C3%A9?z=1&a=%2Fx&a=2"},
		{"s3 unsigned payload", "aws-sigv4 secrets.s3", func() *credential.Request {
			return &credential.Request{Method: "PUT", Host: "bucket.s3.eu-west-1.amazonaws.com", Path: "/key%20name.txt",
				Header: http.Header{"X-Amz-Content-Sha256": {"UNSIGNED-PAYLOAD"}, "Content-Type": {"text/plain"}}, Body: []byte("object body")}
		}, "https://bucket.s3.eu-west-1.amazonaws.com/key%20name.txt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := credential.ParseDirective(tc.directive)
			if err != nil {
				t.Fatal(err)
			}
			r := tc.req()
			edits, err := m.Sign(context.Background(), credential.SignRequest{Directive: d, Type: secret.TypeJSON, Kind: credential.KindAWSCredentials, Object: obj}, r)
			if err != nil {
				t.Fatal(err)
			}
			apply(r, edits)
			if ok, verdict := botocoreVerify(t, tc.url, r, akid, secretKey, token); !ok {
				t.Fatalf("botocore: %s", verdict)
			}
			if amz := r.Header.Get("X-Amz-Date"); amz == "20200101T000000Z" {
				t.Fatal("the SDK's date was kept")
			}
			// The verifier can fail: one changed body byte is refused.
			if len(r.Body) > 0 && r.Header.Get("X-Amz-Content-Sha256") != credential.UnsignedPayload {
				r.Body = append([]byte("X"), r.Body[1:]...)
				if ok, _ := botocoreVerify(t, tc.url, r, akid, secretKey, token); ok {
					t.Fatal("botocore accepted a changed body")
				}
			}
		})
	}
}
