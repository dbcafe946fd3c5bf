// Package ops is the operations endpoint both commands serve on their
// metrics listener: /metrics (Prometheus), /healthz (the process serves)
// and /readyz (the component can do its work), with the same bodies for
// `sidekey proxy` and `sidekey admin`. Components never make a registry of
// their own: they take a prometheus.Registerer, and the command gathers.
package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sidekey/sidekey/internal/errcode"
	"github.com/sidekey/sidekey/internal/lifecycle"
)

// DefaultReadyTimeout bounds one readiness check.
const DefaultReadyTimeout = 2 * time.Second

// NewRegistry returns a registry holding the Go runtime and process
// collectors, for a command to hand to its components as their Registerer.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Config is what the endpoint serves.
type Config struct {
	// Gatherer is served at /metrics; nil leaves /metrics out.
	Gatherer prometheus.Gatherer
	// Ready reports why the component cannot work yet (nil: ready). Its
	// error text is sent, so it must never hold a value.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds Ready; zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Handler serves /metrics, /healthz and /readyz.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", Healthz)
	mux.Handle("GET /readyz", Readyz(cfg))
	return mux
}

// Healthz answers 200 {"status":"ok"}: the process serves.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz answers 200 {"status":"ready"}, or 503 with the error body
// {"error":{"code":"not_ready","message":…}} naming why not.
func Readyz(cfg Config) http.Handler {
	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			err := cfg.Ready(ctx)
			cancel()
			if err != nil {
				var body struct {
					Error struct {
						Code    errcode.Code `json:"code"`
						Message string       `json:"message"`
					} `json:"error"`
				}
				body.Error.Code, body.Error.Message = errcode.NotReady, err.Error()
				writeJSON(w, errcode.NotReady.Status(), body)
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) //nolint:errchkjson // maps and structs of strings always marshal
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Serve serves h on ln until ctx ends, then shuts down within 5 s.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	if err := lifecycle.HTTP(srv, ln, 5*time.Second)(ctx); err != nil {
		return fmt.Errorf("ops: %w", err)
	}
	return nil
}
