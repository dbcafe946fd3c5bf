package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/sidekey/sidekey/bench/internal/spec"
)

// netHTTPSender is the -sender nethttp mode: requests go through a plain
// net/http.Transport configured as an application would configure it for
// a forward proxy (Transport.Proxy), so the proxy sees what real senders
// send: Go's default header set (User-Agent, Accept-Encoding: gzip),
// keep-alive connections from the transport's pool, Proxy-Authorization
// on every absolute-form request and on every CONNECT.
type netHTTPSender struct {
	client *http.Client
	url    *url.URL
	header http.Header
	body   []byte
}

func newNetHTTPSender(g *generator, v spec.Values) (*netHTTPSender, error) {
	proxyURL := &url.URL{Scheme: "http", Host: g.cfg.addr}
	tr := &http.Transport{
		Proxy:                 http.ProxyURL(proxyURL),
		DialContext:           (&net.Dialer{Timeout: g.cfg.setupTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          g.cfg.conns,
		MaxIdleConnsPerHost:   g.cfg.conns,
		MaxConnsPerHost:       g.cfg.conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   g.cfg.setupTimeout,
		ExpectContinueTimeout: time.Second,
	}
	s := &netHTTPSender{
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		header: http.Header{spec.HeaderAPIKey: {v.APIKey}, "Content-Type": {"application/json"}},
		body:   spec.Body(v.Username, v.Password),
	}
	switch g.cfg.route {
	case "proxy":
		s.url = &url.URL{Scheme: "http", Host: g.cfg.upstream, Path: spec.Path}
		if g.cfg.proxyAuth != "" {
			s.header.Set("Proxy-Authorization", g.cfg.proxyAuth)
		}
	case "connect":
		s.url = &url.URL{Scheme: "https", Host: g.cfg.tlsUpstream, Path: spec.Path}
		tr.TLSClientConfig = g.tlsCfg.Clone()
		tr.TLSClientConfig.ClientSessionCache = nil
		if g.cfg.proxyAuth != "" {
			tr.ProxyConnectHeader = http.Header{"Proxy-Authorization": {g.cfg.proxyAuth}}
		}
	default:
		return nil, errors.New("-sender nethttp needs -route proxy or connect")
	}
	return s, nil
}

// do sends the request once and reads the whole answer, so that the
// connection goes back to the transport's pool.
func (s *netHTTPSender) do(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url.String(), bytes.NewReader(s.body))
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	for k, v := range s.header {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("round trip: %w", err)
	}
	return drainOK(resp)
}

// netHTTPWorker is one of -conns loops. With -rate, each loop sends at
// rate/conns requests per second on a fixed schedule (staggered by its
// index, so the loops do not send in step); a loop that falls behind
// sends at once and does not catch up in a burst. Without -rate it is a
// closed loop. It returns the latencies measured in the window, in
// microseconds, from the moment the request is handed to the client.
func (g *generator) netHTTPWorker(ctx context.Context, i int) []float64 {
	lat := make([]float64, 0, 4096)
	var interval time.Duration
	next := time.Now()
	if g.cfg.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(g.cfg.conns) / g.cfg.rate)
		next = next.Add(interval * time.Duration(i) / time.Duration(g.cfg.conns))
	}
	for !g.stopped.Load() && ctx.Err() == nil {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
			if now := time.Now(); next.Before(now) {
				next = now
			}
			if g.stopped.Load() {
				break
			}
		}
		var err error
		if lat, err = g.measure(lat, func() error { return g.nh.do(ctx) }); err != nil && g.errs.Load() > 1000 {
			return lat
		}
	}
	return lat
}

// drainOK reads and closes a net/http response and reports anything but a
// 200, with the proxy's error code.
func drainOK(resp *http.Response) error {
	_, err := io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d (Sidekey-Error %q)", resp.StatusCode, resp.Header.Get("Sidekey-Error"))
	}
	return nil
}
