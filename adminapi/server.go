// Package adminapi is Sidekey's admin API (SPEC §5): a stateless net/http
// server where org and domain admins, authenticated by a bearer JWT, list,
// create, rotate and archive the write-only secrets of their domains, and
// read the Macro Manager's Secrets category. Values go in and never come
// out: no response, error, log line, metric or audit line holds one.
package adminapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/confcheck"
	"github.com/sidekey/sidekey/internal/errcode"
	"github.com/sidekey/sidekey/internal/ops"
)

// DefaultMaxValueBytes bounds a secret's value when Config leaves it zero.
const DefaultMaxValueBytes = 64 << 10

// bodyOverhead is what a request body may hold besides the value (alias,
// type, allowed_hosts, JSON syntax).
const bodyOverhead = 16 << 10

// DefaultReadyTimeout bounds the store ping of /readyz when Config leaves
// it zero.
const DefaultReadyTimeout = ops.DefaultReadyTimeout

// DefaultLeeway is the clock skew DefaultConfig tolerates on exp, nbf and
// iat.
const DefaultLeeway = 30 * time.Second

// Config configures a Server.
type Config struct {
	// Store keeps the secrets (a *vaultstore.Writer in production).
	Store Store
	// Auth verifies bearer tokens.
	Auth AuthConfig
	// Logger receives the access log and errors. Nil discards.
	Logger *zap.Logger
	// AuditLogger receives one line per mutation and per refused caller;
	// default: Logger's child named "audit".
	AuditLogger *zap.Logger
	// MaxValueBytes bounds a secret's value (token, username plus password,
	// or compact JSON); larger is payload_too_large. Zero means
	// DefaultMaxValueBytes.
	MaxValueBytes int64
	// CORSOrigins lists the origins allowed to call the API from a browser
	// ("*" for any). Empty: CORS off.
	CORSOrigins []string
	// UI, when set, is served at "/" (the web UI, adminapi/ui.Handler()).
	UI http.Handler
	// Registerer receives the API's metrics (the command gathers them and
	// serves them with internal/ops); nil keeps them unregistered.
	Registerer prometheus.Registerer
	// ReadyTimeout bounds the store ping of /readyz. Zero means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// DefaultConfig returns the configuration with every default filled in;
// the command's flags bind onto it. The convention of every field: zero
// means the default, a negative value is an error (Auth.Leeway excepted:
// zero tolerates no skew).
func DefaultConfig() Config {
	return Config{
		MaxValueBytes: DefaultMaxValueBytes,
		ReadyTimeout:  DefaultReadyTimeout,
		Auth:          AuthConfig{Leeway: DefaultLeeway},
	}
}

// Validate reports every invalid field of cfg (Store excepted: New checks
// it), each as a *confcheck.FieldError naming the field by its Go name
// ("MaxValueBytes", "CORSOrigins", "Auth"), joined. It reads no file and
// does no I/O.
func (cfg Config) Validate() error {
	c := confcheck.New("adminapi")
	confcheck.NotNegative(c, "MaxValueBytes", cfg.MaxValueBytes)
	confcheck.NotNegative(c, "ReadyTimeout", cfg.ReadyTimeout)
	for _, o := range cfg.CORSOrigins {
		if !validOrigin(o) {
			c.Fail("CORSOrigins", "%q is not an origin such as https://console.example.com", o)
		}
	}
	if err := cfg.Auth.Validate(); err != nil {
		c.Fail("Auth", "%s", strings.TrimPrefix(err.Error(), "adminapi: "))
	}
	return c.Err()
}

// validOrigin accepts "*" or a browser origin: http(s)://host[:port].
func validOrigin(o string) bool {
	if o == "*" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil
}

// Server is the admin API. It keeps no state between requests.
type Server struct {
	store         Store
	verifier      *verifier
	log           *zap.Logger
	audit         *zap.Logger
	maxValueBytes int64
	corsOrigins   []string
	readyTimeout  time.Duration
	metrics       *metrics
	mux           *http.ServeMux
}

// New checks cfg and returns the server. It does no I/O.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, &confcheck.FieldError{Component: "adminapi", Field: "Store", Reason: "required"}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		store:         cfg.Store,
		log:           cfg.Logger,
		maxValueBytes: cfg.MaxValueBytes,
		corsOrigins:   append([]string(nil), cfg.CORSOrigins...),
		readyTimeout:  cfg.ReadyTimeout,
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.audit = cfg.AuditLogger
	if s.audit == nil {
		s.audit = s.log.Named("audit")
	}
	if s.maxValueBytes == 0 {
		s.maxValueBytes = DefaultMaxValueBytes
	}
	if s.readyTimeout == 0 {
		s.readyTimeout = DefaultReadyTimeout
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var err error
	if s.metrics, err = newMetrics(reg); err != nil {
		return nil, err
	}
	if s.verifier, err = newVerifier(cfg.Auth, s.metrics, s.log.Named("oidc")); err != nil {
		return nil, err
	}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.pattern, rt.handler)
	}
	s.mux.HandleFunc("/v1/", s.handleUnknown)
	if cfg.UI != nil {
		s.mux.Handle("/", cfg.UI)
	}
	return s, nil
}

// Handler returns the HTTP handler of the API (and of the UI at "/").
func (s *Server) Handler() http.Handler { return s }

// OpsConfig is what the operations endpoint (internal/ops) needs of the
// API besides the command's registry: its readiness check and timeout.
func (s *Server) OpsConfig(g prometheus.Gatherer) ops.Config {
	return ops.Config{Gatherer: g, Ready: s.Ready, ReadyTimeout: s.readyTimeout}
}

// route is one endpoint of the API. The OpenAPI test walks this table.
type route struct {
	method  string
	pattern string
	handler http.Handler
}

const tenantBase = "/v1/orgs/{org}/domains/{domain}"

// Actions named in audit lines and metrics.
const (
	actionList    = "list"
	actionCreate  = "create"
	actionGet     = "get"
	actionRotate  = "rotate"
	actionArchive = "archive"
	actionMacros  = "macros"
)

func (s *Server) routes() []route {
	return []route{
		{http.MethodGet, tenantBase + "/secrets", s.tenantHandler(actionList, false, s.list)},
		{http.MethodPost, tenantBase + "/secrets", s.tenantHandler(actionCreate, true, s.create)},
		{http.MethodGet, tenantBase + "/secrets/{alias}", s.tenantHandler(actionGet, false, s.get)},
		{http.MethodPut, tenantBase + "/secrets/{alias}", s.tenantHandler(actionRotate, true, s.rotate)},
		{http.MethodDelete, tenantBase + "/secrets/{alias}", s.tenantHandler(actionArchive, true, s.archive)},
		{http.MethodGet, tenantBase + "/macros", s.tenantHandler(actionMacros, false, s.macros)},
		{http.MethodGet, "/v1/auth/config", http.HandlerFunc(s.handleAuthConfig)},
		{http.MethodGet, "/v1/session", http.HandlerFunc(s.handleSession)},
		{http.MethodGet, "/v1/openapi.json", http.HandlerFunc(s.handleOpenAPI)},
		{http.MethodGet, "/healthz", http.HandlerFunc(ops.Healthz)},
		{http.MethodGet, "/readyz", ops.Readyz(s.OpsConfig(nil))},
	}
}

// handleUnknown answers paths under /v1/ that no route serves: 405 when
// the path exists with other methods, else 404.
func (s *Server) handleUnknown(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/v1/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		s.writeError(w, r, newError(errcode.MethodNotAllowed, "method not allowed"))
		return
	}
	s.writeError(w, r, newError(errcode.NotFound, "no such endpoint"))
}

// Ready reports whether the store answers with the server's token; the
// error names no value and is what /readyz sends.
func (s *Server) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("not ready", zap.Error(err))
		return errors.New("the secret store does not answer")
	}
	return nil
}
