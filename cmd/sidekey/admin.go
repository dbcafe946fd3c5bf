package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sidekey/sidekey/adminapi"
	"github.com/sidekey/sidekey/adminapi/ui"
	"github.com/sidekey/sidekey/internal/confcheck"
	"github.com/sidekey/sidekey/internal/lifecycle"
	"github.com/sidekey/sidekey/internal/ops"
	"github.com/sidekey/sidekey/vaultstore"
)

// Defaults of the admin command's own flags (the API's come from
// adminapi.DefaultConfig, Vault's from vaultstore.DefaultConfig).
const (
	defaultAdminListen        = "127.0.0.1:8081"
	defaultAdminMetricsListen = "127.0.0.1:9091"
	defaultShutdownTimeout    = 15 * time.Second
	defaultLogLevel           = "info"
)

// adminFlags are the flags of `sidekey admin`, bound onto
// adminapi.DefaultConfig().
type adminFlags struct {
	listen          string
	metricsListen   string
	hs256KeyFile    string
	jwksFile        string
	api             adminapi.Config
	corsOrigins     stringList
	shutdownTimeout time.Duration
	logLevel        string
	oidc            *oidcFlags
	vault           *vaultstore.Config
}

func newAdminFlags(stderr io.Writer) (*flag.FlagSet, *adminFlags) {
	fs := newFlagSet("admin", "admin [flags]", stderr)
	f := &adminFlags{api: adminapi.DefaultConfig()}
	fs.StringVar(&f.listen, "listen", defaultAdminListen, "address of the admin API and web UI")
	fs.StringVar(&f.metricsListen, "metrics-listen", defaultAdminMetricsListen, "address of /metrics, /healthz and /readyz (empty: off)")
	fs.StringVar(&f.hs256KeyFile, "jwt-hs256-key-file", "", "file holding the HS256 key that signs admin tokens (32+ bytes)")
	fs.StringVar(&f.jwksFile, "jwt-jwks-file", "", "JWKS file of the RS256/ES256 public keys that verify admin tokens")
	fs.StringVar(&f.api.Auth.Issuer, "jwt-issuer", f.api.Auth.Issuer, "required token issuer (iss), when set (with --jwt-hs256-key-file or --jwt-jwks-file)")
	fs.StringVar(&f.api.Auth.Audience, "jwt-audience", f.api.Auth.Audience, "required token audience (aud), when set (with --jwt-hs256-key-file or --jwt-jwks-file)")
	fs.DurationVar(&f.api.Auth.Leeway, "jwt-leeway", f.api.Auth.Leeway, "clock skew tolerated on exp, nbf and iat")
	fs.Int64Var(&f.api.MaxValueBytes, "max-value-bytes", f.api.MaxValueBytes, "largest secret value accepted (0: the default)")
	fs.Var(&f.corsOrigins, "cors-origins", "origins allowed to call the API from a browser (repeatable or comma-separated; empty: CORS off)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "time given to requests in flight on SIGTERM")
	fs.StringVar(&f.logLevel, "log-level", defaultLogLevel, "log level: debug, info, warn or error")
	f.oidc = addOIDCFlags(fs)
	f.vault = addVaultFlags(fs)
	return fs, f
}

// check validates every flag at once, reads the key file and returns the
// API's configuration (without its store and loggers). Its error is one
// line naming each bad flag.
func (f *adminFlags) check() (adminapi.Config, error) {
	cfg := f.api
	cfg.CORSOrigins = f.corsOrigins
	var errs []error
	keyFlag, err := f.readKey(&cfg.Auth)
	if err != nil {
		errs = append(errs, err)
		keyFlag = "" // the key's own error is reported; skip the Auth one
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, flagErrors(err, map[string]string{
			"MaxValueBytes": "--max-value-bytes", "CORSOrigins": "--cors-origins", "Auth": keyFlag,
		}))
	}
	if err := checkVaultFlags(f.vault); err != nil {
		errs = append(errs, err)
	}
	if f.shutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	if _, err := zapcore.ParseLevel(f.logLevel); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	return cfg, errors.Join(errs...)
}

// readKey fills ac from the authentication flags (exactly one of
// --jwt-hs256-key-file, --jwt-jwks-file and --oidc-issuer), reading the key
// file or the provider's CA file, and returns the flag the mode came from.
func (f *adminFlags) readKey(ac *adminapi.AuthConfig) (string, error) {
	ac.Claims = f.oidc.claimMapping()
	n := 0
	for _, v := range []string{f.hs256KeyFile, f.jwksFile, f.oidc.issuer} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return "", errors.New("set one of --jwt-hs256-key-file, --jwt-jwks-file and --oidc-issuer, not several")
	case f.oidc.issuer == "" && len(f.oidc.providerFlagsWithoutIssuer()) > 0:
		return "", fmt.Errorf("%s need --oidc-issuer", strings.Join(f.oidc.providerFlagsWithoutIssuer(), ", "))
	case f.hs256KeyFile != "":
		return readKeyFile(&ac.HS256Key, "--jwt-hs256-key-file", f.hs256KeyFile, adminapi.LoadHS256Key)
	case f.jwksFile != "":
		return readKeyFile(&ac.JWKS, "--jwt-jwks-file", f.jwksFile, os.ReadFile)
	case f.oidc.issuer != "":
		if ac.Issuer != "" || ac.Audience != "" {
			return "", errors.New("--jwt-issuer and --jwt-audience are for key files; with --oidc-issuer use --oidc-audience")
		}
		oc, err := f.oidc.config()
		if err != nil {
			return "", err
		}
		ac.OIDC = oc
		return "--oidc-issuer", nil
	default:
		return "", errors.New("set --jwt-hs256-key-file, --jwt-jwks-file or --oidc-issuer")
	}
}

// readKeyFile reads path, the value of the flag name, with read into dst
// and returns name; its error names the flag.
func readKeyFile(dst *[]byte, name, path string, read func(string) ([]byte, error)) (string, error) {
	b, err := read(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	*dst = b
	return name, nil
}

// flagErrors renames the fields of a joined confcheck.FieldError list (a
// Validate error of adminapi, proxy or vaultstore) to the flags that set
// them: "--max-value-bytes: -1 must not be negative". A field mapped to ""
// is left out; an unmapped one keeps its library message.
func flagErrors(err error, flags map[string]string) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range unjoin(err) {
		var fe *confcheck.FieldError
		if errors.As(e, &fe) {
			name, ok := flags[fe.Field]
			if ok && name == "" {
				continue
			}
			if ok {
				e = fmt.Errorf("%s: %s", name, fe.Reason)
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// unjoin returns the errors an errors.Join holds, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // the join itself, not its chain
		return j.Unwrap()
	}
	return []error{err}
}

// adminUI returns the web UI served at "/"; its pages may also call the
// origins connect returns (the provider's token endpoint).
func adminUI(connect func() []string) http.Handler {
	return ui.New(ui.Config{ConnectSources: connect})
}

func runAdmin(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs, f := newAdminFlags(stderr)
	if err := parseFlags(fs, args); err != nil {
		return flagExit(stderr, "admin", err)
	}
	fail := func(err error) int { return failExit(stderr, "admin", err) }
	cfg, log, err := configure(f.check, f.logLevel)
	if err != nil {
		return flagExit(stderr, "admin", err)
	}
	defer func() { _ = log.Sync() }()

	store, err := vaultstore.NewWriter(ctx, vaultConfig(f.vault, log))
	if err != nil {
		return fail(fmt.Errorf("vault: %w", err))
	}
	reg := ops.NewRegistry()
	var srv *adminapi.Server
	cfg.Registerer, cfg.Store = reg, store
	cfg.UI = adminUI(func() []string { return srv.AuthOrigins() })
	cfg.Logger, cfg.AuditLogger = log.Named("admin"), log.Named("audit")
	srv, err = adminapi.New(cfg)
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
