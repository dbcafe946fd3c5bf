package main

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sidekey/sidekey/bench/internal/spec"
)

// TestVerifierCounts drives the verifier over real loopback HTTP and checks
// that it tells exact injections from placeholders, wrong values and leaked
// proxy headers.
func TestVerifierCounts(t *testing.T) {
	vals, err := spec.Generate()
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(vals)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: v.handle}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	ph := spec.Placeholders()
	send := func(key, user, pass string, extra map[string]string) {
		t.Helper()
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + ln.Addr().String() + spec.Path)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.Set(spec.HeaderAPIKey, key)
		for k, val := range extra {
			req.Header.Set(k, val)
		}
		req.SetBody(spec.Body(user, pass))
		if err := fasthttp.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != fasthttp.StatusOK {
			t.Fatalf("status %d", resp.StatusCode())
		}
	}
	send(vals.APIKey, vals.Username, vals.Password, nil)                                                    // exact
	send(ph.APIKey, ph.Username, ph.Password, nil)                                                          // 3 placeholders
	send(vals.APIKey, vals.Username, strings.ToUpper(vals.Password)+"x", nil)                               // wrong value
	send(vals.APIKey, vals.Username, vals.Password, map[string]string{"Proxy-Authorization": "Basic eA=="}) // leak

	if got := v.requests.Load(); got != 4 {
		t.Errorf("requests = %d, want 4", got)
	}
	if got := v.verified.Load(); got != 2 {
		t.Errorf("verified = %d, want 2 (the exact one and the leaking one)", got)
	}
	if got := v.mismatched.Load(); got != 2 {
		t.Errorf("mismatched = %d, want 2", got)
	}
	if got := v.placeholders.Load(); got != 3 {
		t.Errorf("placeholders = %d, want 3", got)
	}
	if got := v.leaked.Load(); got != 1 {
		t.Errorf("leaked = %d, want 1", got)
	}
}
