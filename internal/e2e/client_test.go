package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// reply is a whole answer of `sidekey admin`.
type reply struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// call sends method path to the admin API at addr (host:port): with
// "Bearer token" when token is not empty, body as JSON when it is not nil,
// and the headers hdr. It fails the test when there is no answer.
func call(t *testing.T, addr, method, path, token string, body any, hdr map[string]string) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	return reply{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}
}
