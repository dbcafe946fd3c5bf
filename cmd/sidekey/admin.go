package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sidekey/sidekey/adminapi"
	"github.com/sidekey/sidekey/adminapi/ui"
	"github.com/sidekey/sidekey/internal/lifecycle"
	"github.com/sidekey/sidekey/internal/ops"
	"github.com/sidekey/sidekey/vaultstore"
)

// adminFlags are the flags of `sidekey admin`.
type adminFlags struct {
	listen          string
	metricsListen   string
	hs256KeyFile    string
	jwksFile        string
	issuer          string
	audience        string
	leeway          time.Duration
	maxValueBytes   int64
	corsOrigins     stringList
	shutdownTimeout time.Duration
	logLevel        string
	vault           *vaultstore.Config
}

func newAdminFlags(stderr io.Writer) (*flag.FlagSet, *adminFlags) {
	fs := newFlagSet("admin", "admin [flags]", stderr)
	f := &adminFlags{}
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8081", "address of the admin API and web UI")
	fs.StringVar(&f.metricsListen, "metrics-listen", "127.0.0.1:9091", "address of /metrics, /healthz and /readyz (empty: off)")
	fs.StringVar(&f.hs256KeyFile, "jwt-hs256-key-file", "", "file holding the HS256 key that signs admin tokens (32+ bytes)")
	fs.StringVar(&f.jwksFile, "jwt-jwks-file", "", "JWKS file of the RS256/ES256 public keys that verify admin tokens")
	fs.StringVar(&f.issuer, "jwt-issuer", "", "required token issuer (iss), when set")
	fs.StringVar(&f.audience, "jwt-audience", "", "required token audience (aud), when set")
	fs.DurationVar(&f.leeway, "jwt-leeway", 30*time.Second, "clock skew tolerated on exp, nbf and iat")
	fs.Int64Var(&f.maxValueBytes, "max-value-bytes", adminapi.DefaultMaxValueBytes, "largest secret value accepted")
	fs.Var(&f.corsOrigins, "cors-origins", "origins allowed to call the API from a browser (repeatable or comma-separated; empty: CORS off)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 15*time.Second, "time given to requests in flight on SIGTERM")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.vault = addVaultFlags(fs)
	return fs, f
}

// check validates every flag at once and reads the key file. Its error is
// one line naming each bad flag.
func (f *adminFlags) check() (adminapi.AuthConfig, error) {
	var errs []error
	auth, err := f.authConfig()
	if err != nil {
		errs = append(errs, err)
	}
	if f.maxValueBytes <= 0 {
		errs = append(errs, errors.New("--max-value-bytes must be positive"))
	}
	if f.shutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	for _, o := range f.corsOrigins {
		if err := checkOrigin(o); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := zapcore.ParseLevel(f.logLevel); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	return auth, errors.Join(errs...)
}

// authConfig reads the key file of the authentication flags.
func (f *adminFlags) authConfig() (adminapi.AuthConfig, error) {
	ac := adminapi.AuthConfig{Issuer: f.issuer, Audience: f.audience, Leeway: f.leeway}
	switch {
	case f.hs256KeyFile != "" && f.jwksFile != "":
		return ac, errors.New("set one of --jwt-hs256-key-file and --jwt-jwks-file, not both")
	case f.hs256KeyFile != "":
		key, err := adminapi.LoadHS256Key(f.hs256KeyFile)
		if err != nil {
			return ac, fmt.Errorf("--jwt-hs256-key-file: %w", err)
		}
		ac.HS256Key = key
	case f.jwksFile != "":
		b, err := os.ReadFile(f.jwksFile)
		if err != nil {
			return ac, fmt.Errorf("--jwt-jwks-file: %w", err)
		}
		ac.JWKS = b
	default:
		return ac, errors.New("set --jwt-hs256-key-file or --jwt-jwks-file")
	}
	if f.leeway < 0 {
		return ac, errors.New("--jwt-leeway must not be negative")
	}
	if err := ac.Validate(); err != nil {
		return ac, err
	}
	return ac, nil
}

// checkOrigin accepts "*" or a browser origin: http(s)://host[:port].
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("--cors-origins: %q is not an origin such as https://console.example.com", o)
	}
	return nil
}

// adminUI returns the web UI served at "/".
func adminUI() http.Handler { return ui.Handler() }

func runAdmin(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs, f := newAdminFlags(stderr)
	if err := parseFlags(fs, args); err != nil {
		return flagExit(stderr, "admin", err)
	}
	fail := func(err error) int { return failExit(stderr, "admin", err) }
	auth, err := f.check()
	if err != nil {
		return flagExit(stderr, "admin", err)
	}
	log, err := newLogger(f.logLevel)
	if err != nil {
		return flagExit(stderr, "admin", err)
	}
	defer func() { _ = log.Sync() }()

	vcfg := *f.vault
	vcfg.Logger = log.Named("vaultstore")
	store, err := vaultstore.New(ctx, vcfg)
	if err != nil {
		return fail(fmt.Errorf("vault: %w", err))
	}
	reg := ops.NewRegistry()
	srv, err := adminapi.New(adminapi.Config{
		Registerer:    reg,
		Store:         store,
		Auth:          auth,
		Logger:        log.Named("admin"),
		AuditLogger:   log.Named("audit"),
		MaxValueBytes: f.maxValueBytes,
		CORSOrigins:   f.corsOrigins,
		UI:            adminUI(),
	})
	if err != nil {
		return flagExit(stderr, "admin", err)
	}
	ln, mln, err := listenAdmin(f)
	if err != nil {
		return fail(err)
	}
	if err := serveAdmin(ctx, log, f.shutdownTimeout, srv, ops.Handler(srv.OpsConfig(reg)), store.Run, ln, mln); err != nil {
		return fail(err)
	}
	return 0
}

// listenAdmin opens the API listener and, unless disabled, the metrics one.
func listenAdmin(f *adminFlags) (api, metrics net.Listener, err error) {
	api, err = net.Listen("tcp", f.listen)
	if err != nil {
		return nil, nil, fmt.Errorf("--listen: %w", err)
	}
	if f.metricsListen != "" {
		metrics, err = net.Listen("tcp", f.metricsListen)
		if err != nil {
			_ = api.Close()
			return nil, nil, fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	return api, metrics, nil
}

// serveAdmin runs the admin API on ln, the ops endpoint on mln (when not
// nil) and runStore (the Vault token renewal) through internal/lifecycle until
// ctx ends; the API then drains for up to timeout, the ops endpoint and
// the renewal stop after it.
func serveAdmin(ctx context.Context, log *zap.Logger, timeout time.Duration, srv *adminapi.Server,
	opsHandler http.Handler, runStore func(context.Context) error, ln, mln net.Listener) error {
	parts := lifecycle.Parts{
		Logger: log,
		Loops:  []lifecycle.Loop{{Name: "vault token renewal", Run: runStore}},
		Main:   lifecycle.HTTP(newHTTPServer(srv.Handler(), log), ln, timeout),
	}
	fields := []zap.Field{zap.String("listen", ln.Addr().String())}
	if mln != nil {
		parts.Ops = lifecycle.HTTP(newHTTPServer(opsHandler, log), mln, timeout)
		fields = append(fields, zap.String("metrics_listen", mln.Addr().String()))
	}
	log.Info("admin API listening", fields...)
	err := lifecycle.Run(ctx, parts)
	log.Info("stopped")
	return err
}

// newHTTPServer returns an http.Server with the admin API's time and size
// limits.
func newHTTPServer(h http.Handler, log *zap.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
}
