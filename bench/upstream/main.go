// Command upstream is the proxy benchmark's origin server. It answers every
// request with a small JSON body and verifies the work of the proxy in
// front of it: per request it counts the placeholders that arrived (must be
// none), checks that the injected header and JSON body are exactly the
// expected bytes, and that no proxy or Sidekey header leaked through. The
// counters are served as JSON on a separate control listener, which the
// load generator reads after each case.
//
//	upstream -listen 127.0.0.1:18401 -tls-listen 127.0.0.1:18402 \
//	         -control 127.0.0.1:18403 -values values.json -tls-dir DIR
//
// With -tls-dir it mints a throw-away CA and a certificate for 127.0.0.1 and
// localhost, and writes the CA to DIR/upstream-ca.pem for the proxies to
// trust.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sidekey/sidekey/bench/internal/spec"
	"github.com/sidekey/sidekey/internal/cli"
	"github.com/sidekey/sidekey/internal/testupstream"
)

func main() { cli.Run("upstream", run) }

func run(ctx context.Context) error {
	listen := flag.String("listen", "127.0.0.1:18401", "plain HTTP listen address")
	tlsListen := flag.String("tls-listen", "", "HTTPS listen address (needs -tls-dir)")
	control := flag.String("control", "127.0.0.1:18403", "control listen address (GET /stats, POST /reset)")
	valuesFile := flag.String("values", "", "JSON file of the expected injected values (required)")
	tlsDir := flag.String("tls-dir", "", "directory to write upstream-ca.pem into")
	flag.Parse()

	if *valuesFile == "" {
		return errors.New("-values is required")
	}
	vals, err := spec.Load(*valuesFile)
	if err != nil {
		return err
	}
	if *tlsListen != "" && *tlsDir == "" {
		return errors.New("-tls-listen needs -tls-dir")
	}

	v := newVerifier(vals)
	srv := &fasthttp.Server{
		Handler:              v.handle,
		Name:                 "bench-upstream",
		ReadTimeout:          60 * time.Second,
		WriteTimeout:         60 * time.Second,
		IdleTimeout:          5 * time.Minute,
		NoDefaultDate:        true,
		NoDefaultContentType: true,
		ConnState: func(_ net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateNew {
				v.conns.Add(1)
			}
		},
	}
	ctl := &fasthttp.Server{Handler: v.control, Name: "bench-upstream-control"}

	errc := make(chan error, 3)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	go func() { errc <- srv.Serve(ln) }()

	if *tlsListen != "" {
		cfg, err := mintTLS(*tlsDir)
		if err != nil {
			return err
		}
		tln, err := net.Listen("tcp", *tlsListen)
		if err != nil {
			return fmt.Errorf("listen tls: %w", err)
		}
		go func() { errc <- srv.Serve(tls.NewListener(tln, cfg)) }()
	}

	cln, err := net.Listen("tcp", *control)
	if err != nil {
		return fmt.Errorf("listen control: %w", err)
	}
	go func() { errc <- ctl.Serve(cln) }()

	select {
	case <-ctx.Done():
		_ = srv.Shutdown()
		_ = ctl.Shutdown()
		return nil
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
}

// verifier checks each request against the expected bytes and counts.
type verifier struct {
	apiKey []byte
	body   []byte

	requests     atomic.Int64 // every request on the benchmark listeners
	verified     atomic.Int64 // header and body exactly as expected
	mismatched   atomic.Int64 // a value missing or wrong
	placeholders atomic.Int64 // "{{" sequences that arrived, all requests
	leaked       atomic.Int64 // requests carrying Proxy-* or Sidekey-* headers
	conns        atomic.Int64 // connections accepted: shows upstream reuse
}

func newVerifier(v spec.Values) *verifier {
	return &verifier{apiKey: []byte(v.APIKey), body: spec.Body(v.Username, v.Password)}
}

var (
	okBody      = []byte(`{"ok":true,"id":"msg-0001","status":"queued"}`)
	contentJSON = []byte("application/json")
)

func (v *verifier) handle(ctx *fasthttp.RequestCtx) {
	v.requests.Add(1)
	req := &ctx.Request
	body := req.Body()

	n := testupstream.CountPlaceholders(req.Header.RequestURI(), req.Header.RawHeaders(), body)
	if n > 0 {
		v.placeholders.Add(int64(n))
	}
	if bytes.Equal(req.Header.Peek(spec.HeaderAPIKey), v.apiKey) &&
		bytes.Equal(body, v.body) &&
		bytes.Equal(req.URI().Path(), []byte(spec.Path)) {
		v.verified.Add(1)
	} else {
		v.mismatched.Add(1)
	}
	leak := false
	for k := range req.Header.All() {
		if hasPrefixFold(k, "proxy-") || hasPrefixFold(k, "sidekey-") {
			leak = true
		}
	}
	if leak {
		v.leaked.Add(1)
	}

	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.Header.SetContentTypeBytes(contentJSON)
	ctx.SetBody(okBody)
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

func (v *verifier) control(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/stats":
		s := spec.UpstreamStats{
			Requests:     v.requests.Load(),
			Verified:     v.verified.Load(),
			Mismatched:   v.mismatched.Load(),
			Placeholders: v.placeholders.Load(),
			Leaked:       v.leaked.Load(),
			Conns:        v.conns.Load(),
		}
		b, _ := json.Marshal(s)
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
	case "/reset":
		if !ctx.IsPost() {
			ctx.Error("POST only", fasthttp.StatusMethodNotAllowed)
			return
		}
		v.requests.Store(0)
		v.verified.Store(0)
		v.mismatched.Store(0)
		v.placeholders.Store(0)
		v.leaked.Store(0)
		v.conns.Store(0)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
}

// mintTLS makes a CA and a leaf for 127.0.0.1 and localhost, writes the CA
// to dir/upstream-ca.pem and returns the server's TLS config.
func mintTLS(dir string) (*tls.Config, error) {
	cfg, caPEM, err := testupstream.TLSConfig(nil, []string{"127.0.0.1", "localhost"})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "upstream-ca.pem"), caPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write ca: %w", err)
	}
	return cfg, nil
}
