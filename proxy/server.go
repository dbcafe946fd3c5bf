// Package proxy is the Sidekey sidecar: a forward proxy that binds each
// request to its tenant, replaces {{secrets.…}} placeholders with values
// from the store just before the request leaves, and scrubs them from the
// response (SPEC §3, §4). It owns fasthttp, TLS interception and dialling.
//
// One listener serves three routing modes:
//   - CONNECT host:port, then TLS terminated with a leaf certificate from
//     the Sidekey CA, requests injected and re-encrypted upstream
//     (passthrough hosts are tunnelled untouched);
//   - absolute-form https:// URIs over plain HTTP, sent upstream over TLS;
//   - absolute-form http:// URIs, sent in plain HTTP (injection refused
//     unless allowed).
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"golang.org/x/net/http2"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/secret"
)

// Proxy is the sidecar forward proxy. Create it with New and run it with
// Serve.
type Proxy struct {
	cfg Config
	log *zap.Logger
	m   *metrics
	// baseCtx bounds secret resolution; it is not cancelled by the drain,
	// so requests in flight finish.
	baseCtx  context.Context
	ready    atomic.Bool
	draining atomic.Bool

	// The pipeline (request.go): route, inject, sign, send, scrub.
	exchanges exchangePool
	auth      *authenticator
	dests     *destCache
	creds     *credential.Minter // token filters and Sidekey-Sign (credentials.go, sign.go)
	guard     *guard
	client    *fasthttp.Client // HTTP/1.1 upstreams
	h2up      *h2Upstream      // HTTP/2 upstreams; nil with UpstreamHTTP2Off

	// The adapters: the listener, CONNECT tunnels, interception, and the
	// HTTP/1.1 and HTTP/2 servers of intercepted connections.
	outer       *fasthttp.Server // the listener's server
	inner       *fasthttp.Server // serves intercepted TLS connections
	tunnels     *tunnels
	passthrough []string      // host globs of tunnels passed through untouched
	tlsConfig   *tls.Config   // of intercepted connections, shared; presents the leaf certificates
	h2srv       *http2.Server //nolint:staticcheck // SA1019: see h2Upstream
	h2base      *http.Server  // the base configuration of h2 streams; its Shutdown sends GOAWAY
	h2Streams   sync.Pool     // *h2Stream
}

// New checks cfg and builds a Proxy. It opens no socket.
func New(cfg Config, log *zap.Logger) (*Proxy, error) {
	if log == nil {
		return nil, errors.New("proxy: a logger is required")
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pass, _ := secret.NormalizeHostGlobs("passthrough-hosts", cfg.PassthroughHosts)
	p := &Proxy{
		cfg:         cfg,
		log:         log,
		guard:       newGuard(cfg.AllowUpstreamCIDRs, cfg.LookupNetIP),
		passthrough: pass,
		dests:       newDestCache(),
		baseCtx:     context.Background(),
	}
	p.h2Streams.New = func() any { return new(h2Stream) }
	p.outer = p.newServer("sidekey-proxy")
	p.outer.KeepHijackedConns = true // the tunnel goroutine closes them (handleConnect)
	// The listener enforces MaxConns with a JSON refusal (limit.go);
	// fasthttp's own limit, which answers in plain text, is set above it
	// to cover the workers still in a lingering close, which fasthttp no
	// longer counts as open connections.
	p.outer.Concurrency = 2 * cfg.MaxConns
	p.inner = p.newServer("sidekey-proxy-tls")
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry() // unregistered: nobody gathers it
	}
	m, err := newMetrics(reg, func() float64 { return float64(p.outer.GetOpenConnectionsCount()) })
	if err != nil {
		return nil, err
	}
	p.m = m
	p.auth = newAuthenticator(cfg.Keys, m.authFailed)
	p.tunnels = newTunnels(m.tunnels)
	p.inner.ConnState = p.tunnels.connState
	leaves, err := newLeafCache(cfg.CA, cfg.LeafValidity, cfg.LeafCacheSize, p.m.leafIssued.Inc)
	if err != nil {
		return nil, err
	}
	p.tlsConfig = newInterceptConfig(leaves)
	sessions := tls.NewLRUClientSessionCache(256)
	p.client = newUpstreamClient(&cfg, p.guard, sessions)
	if p.creds, err = credential.New(credential.Config{
		HTTPClient: newTokenClient(&cfg, p.guard), Registerer: reg, Logger: log.Named("credential"),
	}); err != nil {
		return nil, err
	}
	h2m, err := newH2Metrics(reg)
	if err != nil {
		return nil, err
	}
	p.h2srv, p.h2base = newH2Server(&cfg, log, h2m.counter("client"))
	if cfg.UpstreamHTTP2 == UpstreamHTTP2Auto {
		p.h2up = newH2Upstream(&cfg, p.guard, sessions, h2m.counter("upstream"))
	}
	if cfg.Ping == nil {
		p.ready.Store(true)
	}
	return p, nil
}

func (p *Proxy) newServer(name string) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                       p.handle,
		ErrorHandler:                  p.handleParseError,
		Name:                          name,
		Concurrency:                   p.cfg.MaxConns,
		ReadBufferSize:                p.cfg.MaxHeaderBytes,
		WriteBufferSize:               16 << 10,
		ReadTimeout:                   p.cfg.ReadTimeout,
		WriteTimeout:                  p.cfg.WriteTimeout,
		IdleTimeout:                   p.cfg.IdleTimeout,
		MaxRequestBodySize:            p.cfg.MaxBodyBytes,
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		SecureErrorLogMessage:         true,
		CloseOnShutdown:               true,
		Logger:                        zapPrinter{p.log},
		ReduceMemoryUsage:             true,
	}
}

// zapPrinter routes fasthttp's own log lines (which never carry request
// bytes: SecureErrorLogMessage is set) into zap.
type zapPrinter struct{ log *zap.Logger }

func (z zapPrinter) Printf(format string, args ...any) {
	z.log.Debug("fasthttp", zap.String("detail", fmt.Sprintf(format, args...)))
}

// Ready reports whether the store has answered once and the proxy is not
// draining.
func (p *Proxy) Ready() bool { return p.ready.Load() && !p.draining.Load() }

// Serve accepts connections on ln until ctx ends, then drains: it stops
// accepting, lets requests in flight finish for up to DrainTimeout, and
// closes what is left.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	go p.watchReadiness(ctx)
	errc := make(chan error, 1)
	go func() { errc <- p.outer.Serve(newLimitListener(ln, p.outer, p.cfg.MaxConns, p.m, p.log)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("proxy: serve: %w", err)
	case <-ctx.Done():
	}
	return p.drain()
}

func (p *Proxy) drain() error {
	p.draining.Store(true)
	p.log.Info("draining", zap.Duration("timeout", p.cfg.DrainTimeout))
	dctx, cancel := context.WithTimeout(context.Background(), p.cfg.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var outerErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		outerErr = p.outer.ShutdownWithContext(dctx)
		p.log.Debug("listener drained")
	}()
	// The inner server has no listener, so its Shutdown would not stop it:
	// intercepted connections close after their request in flight
	// (serveH1) or at once when idle (tunnels.connState, closeIdle).
	p.tunnels.closeIdle()
	_ = p.h2base.Shutdown(dctx) // GOAWAY to every h2 client; it tracks no connection itself, so it returns at once
	if p.tunnels.wait(dctx) {
		p.log.Debug("tunnels closed")
	}
	wg.Wait()
	p.client.CloseIdleConnections()
	if p.h2up != nil {
		p.h2up.closeIdle()
	}
	p.log.Info("drained")
	if outerErr != nil && !errors.Is(outerErr, context.DeadlineExceeded) {
		return fmt.Errorf("proxy: shutdown: %w", outerErr)
	}
	return nil
}

// watchReadiness pings the store until it answers once.
func (p *Proxy) watchReadiness(ctx context.Context) {
	if p.cfg.Ping == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for attempt := 0; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := p.cfg.Ping(pctx)
		cancel()
		if err == nil {
			p.ready.Store(true)
			p.log.Info("secret store answered; ready")
			return
		}
		if attempt%30 == 0 { // the first failure, then every 30 s
			p.log.Warn("secret store not ready", zap.Error(err), zap.Int("attempt", attempt+1))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
