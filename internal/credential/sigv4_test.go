package credential_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/secret"
)

type vectorContext struct {
	Credentials struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		Token           string `json:"token"`
	} `json:"credentials"`
	Region    string    `json:"region"`
	Service   string    `json:"service"`
	SignBody  bool      `json:"sign_body"`
	Timestamp time.Time `json:"timestamp"`
}

// parseVectorRequest reads a test-suite request.txt.
func parseVectorRequest(t *testing.T, raw string) *credential.Request {
	t.Helper()
	head, body, _ := strings.Cut(raw, "\n\n")
	sc := bufio.NewScanner(strings.NewReader(head))
	sc.Scan()
	parts := strings.Split(sc.Text(), " ")
	target := strings.Join(parts[1:len(parts)-1], " ")
	path, query, _ := strings.Cut(target, "?")
	r := &credential.Request{Method: parts[0], Path: path, Query: query, Header: http.Header{}, Body: []byte(body)}
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			t.Fatalf("unparsed header line %q", sc.Text())
		}
		if strings.EqualFold(name, "host") {
			r.Host = value
			continue
		}
		r.Header[http.CanonicalHeaderKey(name)] = append(r.Header[http.CanonicalHeaderKey(name)], value)
	}
	return r
}

func expectedAuthorization(t *testing.T, signed string) string {
	t.Helper()
	for _, line := range strings.Split(signed, "\n") {
		if v, ok := strings.CutPrefix(line, "Authorization:"); ok {
			return v
		}
	}
	t.Fatal("no Authorization in header-signed-request.txt")
	return ""
}

// TestSigV4Vectors signs AWS's published test suite requests through the
// same path the proxy uses and compares the Authorization header.
func TestSigV4Vectors(t *testing.T) {
	dirs, err := filepath.Glob("testdata/sigv4/*/context.json")
	if err != nil || len(dirs) < 15 {
		t.Fatalf("vectors: %v (%d found)", err, len(dirs))
	}
	for _, ctxFile := range dirs {
		dir := filepath.Dir(ctxFile)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var vc vectorContext
			readJSON(t, ctxFile, &vc)
			req := parseVectorRequest(t, readFile(t, filepath.Join(dir, "request.txt")))
			if vc.SignBody {
				// As an SDK that hashed the body before injection would.
				req.Header.Set("X-Amz-Content-Sha256", "placeholder-hash")
			}
			obj, _ := json.Marshal(map[string]string{
				"access_key_id": vc.Credentials.AccessKeyID, "secret_access_key": vc.Credentials.SecretAccessKey,
				"session_token": vc.Credentials.Token,
			})
			m := newMinter(t, credential.Config{HTTPClient: http.DefaultClient, Now: func() time.Time { return vc.Timestamp }})
			d, err := credential.ParseDirective("aws-sigv4 secrets.aws; region=" + vc.Region + "; service=" + vc.Service)
			if err != nil {
				t.Fatal(err)
			}
			edits, err := m.Sign(context.Background(), credential.SignRequest{Directive: d, Type: secret.TypeJSON,
				Kind: credential.KindAWSCredentials, Object: obj}, req)
			if err != nil {
				t.Fatal(err)
			}
			want := expectedAuthorization(t, readFile(t, filepath.Join(dir, "header-signed-request.txt")))
			got := ""
			for _, f := range edits.Set {
				if f.Name == "Authorization" {
					got = f.Value
				}
			}
			if got != want {
				t.Fatalf("Authorization\n got %s\nwant %s", got, want)
			}
		})
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(readFile(t, name)), v); err != nil {
		t.Fatal(err)
	}
}
