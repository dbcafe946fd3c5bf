package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/sidekey/sidekey/bench/internal/spec"
)

// h2Sender is the -h2 mode of the connect route: every connection is an
// HTTP/2 connection inside a CONNECT tunnel (ALPN h2 only), carrying
// -streams closed loops at once, the way an APNs client multiplexes.
type h2Sender struct {
	t      *http2.Transport //nolint:staticcheck // SA1019: the x/net/http2 client is the sender being measured.
	url    *url.URL
	header http.Header
	body   []byte
}

func newH2Sender(cfg config, v spec.Values) *h2Sender {
	return &h2Sender{
		t:   &http2.Transport{DisableCompression: true}, //nolint:staticcheck // SA1019: see h2Sender.
		url: &url.URL{Scheme: "https", Host: cfg.tlsUpstream, Path: spec.Path},
		header: http.Header{
			"User-Agent":      {"sidekey-bench"},
			spec.HeaderAPIKey: {v.APIKey},
			"Content-Type":    {"application/json"},
		},
		body: spec.Body(v.Username, v.Password),
	}
}

// dialH2 opens a tunnel, TLS with ALPN h2, and an HTTP/2 client connection.
func (g *generator) dialH2(ctx context.Context) (*http2.ClientConn, error) {
	d := net.Dialer{Timeout: g.cfg.setupTimeout}
	conn, err := d.DialContext(ctx, "tcp", g.cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", g.cfg.addr, err)
	}
	tc, err := g.connect(ctx, conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if p := tc.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		_ = tc.Close()
		return nil, fmt.Errorf("the proxy chose ALPN %q, not h2", p)
	}
	cc, err := g.h2.t.NewClientConn(tc)
	if err != nil {
		_ = tc.Close()
		return nil, fmt.Errorf("h2 client connection: %w", err)
	}
	return cc, nil
}

// doH2 sends the request once on cc and reads the answer.
func (g *generator) doH2(ctx context.Context, cc *http2.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body := g.h2.body
	req := (&http.Request{
		Method: http.MethodPost, URL: g.h2.url, Host: g.cfg.tlsUpstream, Header: g.h2.header,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
	}).WithContext(ctx)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("h2 round trip: %w", err)
	}
	return drainOK(resp)
}

// h2Conn runs one connection's -streams closed loops until stopped, and
// returns the latencies measured in the window, in microseconds. A
// connection that breaks is opened again.
func (g *generator) h2Conn(ctx context.Context) []float64 {
	var all []float64
	for !g.stopped.Load() && ctx.Err() == nil {
		cc, err := g.dialH2(ctx)
		if err != nil {
			g.fail(err)
			if g.errs.Load() > 1000 {
				return all
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range g.cfg.streams {
			wg.Go(func() {
				lat := make([]float64, 0, 1024)
				for !g.stopped.Load() && ctx.Err() == nil {
					var err error
					if lat, err = g.measure(lat, func() error { return g.doH2(ctx, cc) }); err != nil {
						break
					}
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
		}
		wg.Wait()
		_ = cc.Close()
		if !g.stopped.Load() && ctx.Err() == nil {
			g.reopened.Add(1)
		}
	}
	return all
}

// idleH2 is idle mode over HTTP/2: each connection makes one request and
// stays open; after the settle time each must still answer a PING.
func (g *generator) idleH2(ctx context.Context, res *Result) {
	open := func(int) (*http2.ClientConn, error) {
		cc, err := g.dialH2(ctx)
		if err != nil {
			return nil, err
		}
		if err := g.doH2(ctx, cc); err != nil {
			_ = cc.Close()
			return nil, err
		}
		return cc, nil
	}
	alive := func(cc *http2.ClientConn) bool {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := cc.Ping(pctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			g.fail(fmt.Errorf("ping after idle: %w", err))
		}
		return err == nil
	}
	idleConns(ctx, g, res, "h2 connections", open, alive, func(cc *http2.ClientConn) { _ = cc.Close() })
}
