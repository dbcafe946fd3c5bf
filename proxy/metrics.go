package proxy

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// mode is how a request reached the proxy, the "mode" label of
// sidekey_proxy_requests_total.
type mode string

// Request modes.
const (
	modeIntercepted mode = "intercepted" // a request inside an intercepted CONNECT tunnel, HTTP/1.1 or HTTP/2
	modeHTTPS       mode = "https"       // absolute-form https:// over plain HTTP
	modeHTTP        mode = "http"        // absolute-form http://
	modeConnect     mode = "connect"     // a CONNECT that was refused or failed
	modePassthrough mode = "passthrough" // a tunnel passed through untouched
	modeOther       mode = "other"       // not a proxy request
)

// location is where a value was injected, the "location" label of
// sidekey_proxy_injections_total.
type location int

// Injection locations.
const (
	locPath location = iota
	locQuery
	locHeader
	locBody
	numLocations
)

var locationNames = [numLocations]string{"path", "query", "header", "body"}

// metrics are the proxy's Prometheus metrics. Labels never hold a value,
// an alias or a tenant: only modes, codes and locations.
type metrics struct {
	requests   *prometheus.CounterVec
	okByMode   map[mode]prometheus.Counter
	injections [numLocations]prometheus.Counter
	scrubbed   *prometheus.CounterVec
	resolve    *prometheus.HistogramVec
	upstream   prometheus.Histogram
	tunnels    prometheus.Gauge
	leafIssued prometheus.Counter
	authFailed prometheus.Counter
}

// newMetrics makes the proxy's metrics and registers them with reg (the
// command's registry; see internal/ops).
func newMetrics(reg prometheus.Registerer, openConns func() float64) (*metrics, error) {
	m := &metrics{}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sidekey_proxy_requests_total",
		Help: "Requests handled, by routing mode and outcome code (\"ok\" or a Sidekey-Error code).",
	}, []string{"mode", "code"})
	injections := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sidekey_proxy_injections_total",
		Help: "Secret values injected into requests, by location.",
	}, []string{"location"})
	m.scrubbed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sidekey_proxy_scrubbed_total",
		Help: "Responses in which an injected value was found and replaced by its placeholder, by part.",
	}, []string{"part"})
	m.resolve = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sidekey_proxy_secret_resolve_seconds",
		Help:    "Time to resolve one secret through the cache (and Vault on a miss), by result.",
		Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
	}, []string{"result"})
	m.upstream = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sidekey_proxy_upstream_seconds",
		Help:    "Time from sending a request upstream to its response headers.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	m.tunnels = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sidekey_proxy_tunnels_open",
		Help: "Open CONNECT tunnels, intercepted or passed through.",
	})
	m.leafIssued = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sidekey_proxy_leaf_certificates_issued_total",
		Help: "Leaf certificates minted for intercepted hosts.",
	})
	m.authFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sidekey_proxy_auth_failures_total",
		Help: "Requests and CONNECTs refused for missing or invalid tenant credentials.",
	})
	conns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sidekey_proxy_client_connections_open",
		Help: "Open client connections on the listener (tunnels excluded).",
	}, openConns)
	for _, c := range []prometheus.Collector{m.requests, injections, m.scrubbed, m.resolve, m.upstream, m.tunnels, m.leafIssued, m.authFailed, conns} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("proxy: metrics: %w", err)
		}
	}

	m.okByMode = map[mode]prometheus.Counter{}
	for _, md := range []mode{modeIntercepted, modeHTTPS, modeHTTP, modePassthrough} {
		m.okByMode[md] = m.requests.WithLabelValues(string(md), "ok")
	}
	for i, name := range locationNames {
		m.injections[i] = injections.WithLabelValues(name)
	}
	return m, nil
}

func (m *metrics) ok(md mode) { m.okByMode[md].Inc() }

func (m *metrics) failed(md mode, code Code) {
	m.requests.WithLabelValues(string(md), string(code)).Inc()
}

// resolved observes one secret resolution that began at start.
func (m *metrics) resolved(start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.resolve.WithLabelValues(result).Observe(time.Since(start).Seconds())
}
