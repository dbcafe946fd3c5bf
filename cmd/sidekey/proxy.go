package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/ca"
	"github.com/sidekey/sidekey/internal/lifecycle"
	"github.com/sidekey/sidekey/internal/ops"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/tenantauth"
	"github.com/sidekey/sidekey/proxy"
	"github.com/sidekey/sidekey/vaultstore"
)

// proxyFlags are the flags of "sidekey proxy" (docs/proxy.md lists them).
type proxyFlags struct {
	listen, metricsListen string
	caCert, caKey         string
	tenantKeyFile         string
	passthroughHosts      stringList
	allowPlainHTTP        bool
	allowCIDRs            stringList
	upstreamCA            string
	maxBodyBytes          int
	maxHeaderBytes        int
	readTimeout           time.Duration
	writeTimeout          time.Duration
	idleTimeout           time.Duration
	upstreamTimeout       time.Duration
	maxConns              int
	h2MaxStreams          int
	upstreamHTTP2         string
	scrub                 bool
	leafValidity          time.Duration
	cache                 vaultstore.CacheConfig
	drainTimeout          time.Duration
	logLevel              string
	vault                 *vaultstore.Config
}

func proxyFlagSet(stderr io.Writer) (*flag.FlagSet, *proxyFlags) {
	fs := newFlagSet("proxy", "proxy [flags]", stderr)
	f := &proxyFlags{}
	d := proxy.DefaultConfig()
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address of the proxy")
	fs.StringVar(&f.metricsListen, "metrics-listen", "127.0.0.1:9090", "address of /metrics, /healthz and /readyz")
	fs.StringVar(&f.caCert, "ca-cert", "", "Sidekey CA certificate (PEM, from \"sidekey ca init\"); required")
	fs.StringVar(&f.caKey, "ca-key", "", "Sidekey CA key (PEM); required")
	fs.StringVar(&f.tenantKeyFile, "tenant-key-file", "", "tenant keys, one per line: the first signs, all verify; required")
	fs.Var(&f.passthroughHosts, "passthrough-hosts", "host globs whose CONNECT tunnels pass through untouched (comma-separated or repeated)")
	fs.BoolVar(&f.allowPlainHTTP, "allow-plain-http-injection", false, "allow injecting secrets into plain http:// upstreams")
	fs.Var(&f.allowCIDRs, "allow-upstream-cidr", "CIDRs exempt from the loopback/private/link-local/metadata refusal (comma-separated or repeated)")
	fs.StringVar(&f.upstreamCA, "upstream-ca", "", "PEM file of extra CAs trusted for upstream TLS, besides the system roots")
	fs.IntVar(&f.maxBodyBytes, "max-body-bytes", d.MaxBodyBytes, "largest request body")
	fs.IntVar(&f.maxHeaderBytes, "max-header-bytes", d.MaxHeaderBytes, "largest request line plus headers")
	fs.DurationVar(&f.readTimeout, "read-timeout", d.ReadTimeout, "time to read one request from a client")
	fs.DurationVar(&f.writeTimeout, "write-timeout", d.WriteTimeout, "time to write one response to a client")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", d.IdleTimeout, "idle keep-alive limit of client and upstream connections")
	fs.DurationVar(&f.upstreamTimeout, "upstream-timeout", d.UpstreamTimeout, "one upstream exchange: dial, TLS, request and response")
	fs.IntVar(&f.maxConns, "max-conns", d.MaxConns, "concurrent client connections (and, separately, open tunnels)")
	fs.IntVar(&f.h2MaxStreams, "h2-max-concurrent-streams", d.H2MaxConcurrentStreams, "open streams (and running requests) per HTTP/2 client connection")
	fs.StringVar(&f.upstreamHTTP2, "upstream-http2", d.UpstreamHTTP2, "auto: offer h2 and http/1.1 to TLS upstreams and speak what they pick; off: HTTP/1.1 only")
	fs.BoolVar(&f.scrub, "scrub-responses", d.ScrubResponses, "replace injected values (8+ bytes) found in responses with their placeholders")
	fs.DurationVar(&f.leafValidity, "leaf-validity", d.LeafValidity, "lifetime of the leaf certificates minted for intercepted hosts")
	f.cache = vaultstore.DefaultCacheConfig()
	fs.DurationVar(&f.cache.TTL, "cache-ttl", f.cache.TTL, "fresh lifetime of a cached secret")
	fs.IntVar(&f.cache.Size, "cache-size", f.cache.Size, "cached secrets")
	fs.DurationVar(&f.cache.NegativeTTL, "negative-ttl", f.cache.NegativeTTL, "lifetime of a cached not-found")
	fs.DurationVar(&f.cache.MaxStale, "max-stale", f.cache.MaxStale, "how long after Vault was last reached (read or feed poll) cached values are still served while it is unreachable")
	fs.DurationVar(&f.cache.FeedInterval, "feed-interval", f.cache.FeedInterval, "change-feed poll interval (rotation and archive propagation)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", d.DrainTimeout, "graceful drain on SIGTERM")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	f.vault = addVaultFlags(fs)
	return fs, f
}

// proxyConfig checks every flag and file, all at once, and returns the
// proxy's Config (without its Resolver).
func (f *proxyFlags) proxyConfig() (proxy.Config, error) {
	var errs []error
	cfg := proxy.Config{
		AllowPlainHTTPInjection: f.allowPlainHTTP,
		PassthroughHosts:        f.passthroughHosts,
		ScrubResponses:          f.scrub,
		MaxBodyBytes:            f.maxBodyBytes,
		MaxHeaderBytes:          f.maxHeaderBytes,
		ReadTimeout:             f.readTimeout,
		WriteTimeout:            f.writeTimeout,
		IdleTimeout:             f.idleTimeout,
		UpstreamTimeout:         f.upstreamTimeout,
		MaxConns:                f.maxConns,
		H2MaxConcurrentStreams:  f.h2MaxStreams,
		UpstreamHTTP2:           f.upstreamHTTP2,
		DrainTimeout:            f.drainTimeout,
		LeafValidity:            f.leafValidity,
	}
	// The libraries check the values (negative, unknown), named below by
	// flag. The flags are stricter: zero, which the libraries read as "the
	// default", is refused too.
	flags := map[string]string{"PassthroughHosts": "--passthrough-hosts", "UpstreamHTTP2": "--upstream-http2"}
	for _, l := range []struct {
		field, flag string
		zero        bool
	}{
		{"MaxBodyBytes", "--max-body-bytes", f.maxBodyBytes == 0},
		{"MaxHeaderBytes", "--max-header-bytes", f.maxHeaderBytes == 0},
		{"MaxConns", "--max-conns", f.maxConns == 0},
		{"H2MaxConcurrentStreams", "--h2-max-concurrent-streams", f.h2MaxStreams == 0},
		{"ReadTimeout", "--read-timeout", f.readTimeout == 0},
		{"WriteTimeout", "--write-timeout", f.writeTimeout == 0},
		{"IdleTimeout", "--idle-timeout", f.idleTimeout == 0},
		{"UpstreamTimeout", "--upstream-timeout", f.upstreamTimeout == 0},
		{"DrainTimeout", "--drain-timeout", f.drainTimeout == 0},
		{"LeafValidity", "--leaf-validity", f.leafValidity == 0},
		{"Cache.Size", "--cache-size", f.cache.Size == 0},
		{"Cache.TTL", "--cache-ttl", f.cache.TTL == 0},
		{"Cache.NegativeTTL", "--negative-ttl", f.cache.NegativeTTL == 0},
		{"Cache.MaxStale", "--max-stale", f.cache.MaxStale == 0},
		{"Cache.FeedInterval", "--feed-interval", f.cache.FeedInterval == 0},
	} {
		flags[l.field] = l.flag
		if l.zero {
			errs = append(errs, fmt.Errorf("%s must be positive", l.flag))
		}
	}
	errs = append(errs, flagErrors(cfg.Validate(), flags), flagErrors(f.cache.Validate(), flags), checkVaultFlags(f.vault))
	errs = append(errs, f.loadFiles(&cfg)...)
	return cfg, errors.Join(errs...)
}

// loadFiles reads the CA, the tenant keys and the upstream CAs into cfg
// and parses the allowed CIDRs; it returns every problem, each naming its
// flag.
func (f *proxyFlags) loadFiles(cfg *proxy.Config) []error {
	var errs []error
	if f.caCert == "" || f.caKey == "" {
		errs = append(errs, errors.New("--ca-cert and --ca-key are required (create them with \"sidekey ca init --out DIR\")"))
	} else if authority, err := ca.Load(f.caCert, f.caKey); err != nil {
		errs = append(errs, fmt.Errorf("--ca-cert/--ca-key: %w", err))
	} else {
		cfg.CA = authority
	}
	if f.tenantKeyFile == "" {
		errs = append(errs, errors.New("--tenant-key-file is required"))
	} else if keys, err := tenantauth.LoadKeyFile(f.tenantKeyFile); err != nil {
		errs = append(errs, fmt.Errorf("--tenant-key-file: %w", err))
	} else {
		cfg.Keys = keys
	}
	for _, c := range f.allowCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("--allow-upstream-cidr %q: %w", c, err))
			continue
		}
		cfg.AllowUpstreamCIDRs = append(cfg.AllowUpstreamCIDRs, p.Masked())
	}
	if f.upstreamCA != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pemData, err := os.ReadFile(f.upstreamCA)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--upstream-ca: %w", err))
		case !pool.AppendCertsFromPEM(pemData):
			errs = append(errs, fmt.Errorf("--upstream-ca: no PEM certificate in %s", f.upstreamCA))
		default:
			cfg.UpstreamRoots = pool
		}
	}
	return errs
}

// runProxy implements "sidekey proxy".
func runProxy(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs, f := proxyFlagSet(stderr)
	if err := parseOneLine(fs, args, stderr); err != nil {
		return flagExit(stderr, "proxy", err)
	}
	cfg, log, err := configure(f.proxyConfig, f.logLevel)
	if err != nil {
		return flagExit(stderr, "proxy", err)
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit

	store, err := vaultstore.NewReader(ctx, vaultConfig(f.vault, log))
	if err != nil {
		return failExit(stderr, "proxy", fmt.Errorf("vault: %w", err))
	}
	// One registry for the cache's and the proxy's metrics, served by the
	// ops listener.
	reg := ops.NewRegistry()
	f.cache.Registerer = reg
	// The change feed also drops the tokens derived from a rotated or
	// archived secret. p is set before the feed runs (lifecycle below).
	var p *proxy.Proxy
	f.cache.OnChange = func(t secret.Tenant, alias string) { p.Credentials().Evict(t, alias) }
	cache, err := vaultstore.NewCache(store, f.cache)
	if err != nil {
		return flagExit(stderr, "proxy", fmt.Errorf("cache: %w", err))
	}
	cfg.Resolver = cache
	cfg.Ping = store.Ping
	cfg.Registerer = reg
	p, err = proxy.New(cfg, log.Named("proxy"))
	if err != nil {
		return flagExit(stderr, "proxy", err)
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return failExit(stderr, "proxy", fmt.Errorf("--listen: %w", err))
	}
	mln, err := net.Listen("tcp", f.metricsListen)
	if err != nil {
		ln.Close() //nolint:errcheck,gosec // exiting
		return failExit(stderr, "proxy", fmt.Errorf("--metrics-listen: %w", err))
	}
	log.Info("listening", zap.String("proxy", ln.Addr().String()), zap.String("metrics", mln.Addr().String()))
	opsHandler := ops.Handler(ops.Config{Gatherer: reg, Ready: p.CheckReady})
	if err := serveProxy(ctx, log, p, opsHandler, store, cache, ln, mln); err != nil {
		log.Error("proxy stopped", zap.Error(err))
		return exitFailure
	}
	return 0
}

// serveProxy runs the store's token renewal, the cache's change feed, the
// proxy and its ops listener through internal/lifecycle until ctx ends;
// the ops listener and the loops stay up until the proxy has drained.
func serveProxy(ctx context.Context, log *zap.Logger, p *proxy.Proxy, opsHandler http.Handler, store *vaultstore.Reader, cache *vaultstore.Cache, ln, mln net.Listener) error {
	return lifecycle.Run(ctx, lifecycle.Parts{
		Logger: log,
		Loops:  []lifecycle.Loop{{Name: "vault token", Run: store.Run}, {Name: "change feed", Run: cache.Run}},
		Main:   func(ctx context.Context) error { return p.Serve(ctx, ln) },
		Ops:    func(ctx context.Context) error { return ops.Serve(ctx, mln, opsHandler) },
	})
}

// singleLine joins a multi-error's lines with "; " so that a bad start prints
// one clear line.
func singleLine(err error) string {
	var b []byte
	for i, c := range []byte(err.Error()) {
		if c == '\n' {
			if i > 0 {
				b = append(b, ';', ' ')
			}
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// parseOneLine is parseFlags for commands whose bad start must print one
// line: the flag package's own message and usage dump are suppressed (the
// caller prints the error), and --help still prints the usage.
func parseOneLine(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := parseFlags(fs, args)
	fs.SetOutput(stderr)
	if errors.Is(err, flag.ErrHelp) {
		usage()
	}
	return err
}
