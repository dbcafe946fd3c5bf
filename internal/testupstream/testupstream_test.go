package testupstream

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestTLSEchoRecordsAndEchoes(t *testing.T) {
	var lines strings.Builder
	s := Start(t, Options{Log: &lines})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("CAPEM is not a PEM certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/v1/x?q={{a}}", strings.NewReader(`{"k":"{{b}}"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", "value-1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var echoed Request
	if err := json.NewDecoder(resp.Body).Decode(&echoed); err != nil {
		t.Fatal(err)
	}
	if echoed.Headers["X-Api-Key"] != "value-1" || echoed.Body != `{"k":"{{b}}"}` || echoed.URI != "/v1/x?q={{a}}" {
		t.Fatalf("echo %+v", echoed)
	}
	last, ok := s.Last()
	if !ok || last.Header.Get("X-Api-Key") != "value-1" || last.Method != http.MethodPost {
		t.Fatalf("recorded %+v, %v", last, ok)
	}
	if s.Count() != 1 || s.Placeholders() != 2 {
		t.Fatalf("count %d, placeholders %d; want 1 and 2", s.Count(), s.Placeholders())
	}
	if !strings.Contains(lines.String(), `"X-Api-Key":"value-1"`) {
		t.Fatalf("log line %q", lines.String())
	}
}

func TestPlainCustomHandlerAndKeep(t *testing.T) {
	s := Start(t, Options{Plain: true, Keep: 2, Handle: func(w http.ResponseWriter, _ *http.Request, body []byte) {
		_, _ = w.Write(append([]byte("got "), body...))
	}})
	if !strings.HasPrefix(s.URL(), "http://") || s.CAPEM() != nil {
		t.Fatalf("plain server: %s, CA %v", s.URL(), s.CAPEM() != nil)
	}
	for _, b := range []string{"a", "b", "c"} {
		resp, err := http.Post(s.URL(), "text/plain", strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if string(got) != "got "+b {
			t.Fatalf("answer %q", got)
		}
	}
	kept := s.Requests()
	if len(kept) != 2 || kept[0].Body != "b" || kept[1].Body != "c" {
		t.Fatalf("kept %+v", kept)
	}
}
