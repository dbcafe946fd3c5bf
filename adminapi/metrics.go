package adminapi

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the admin API's Prometheus metrics, prefixed sidekey_admin_.
// Labels are routes, statuses, actions and outcomes: never an alias, a
// tenant or a value.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	audit    *prometheus.CounterVec
	// keyFetches counts fetches of the OIDC provider's key set by outcome:
	// fetched, error, or limited (answered from the last set).
	keyFetches *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: counterVec("sidekey_admin_requests_total",
			"HTTP requests answered, by route pattern and status.", "route", "status"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sidekey_admin_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sidekey_admin_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
		audit: counterVec("sidekey_admin_audit_events_total",
			"Audited actions, by action and outcome (success or the error code).", "action", "outcome"),
		keyFetches: counterVec("sidekey_admin_oidc_key_fetches_total",
			"Fetches of the OIDC provider's key set, by outcome: fetched, error, or limited (the rate limit answered the last set).", "outcome"),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight, m.audit, m.keyFetches} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// counterVec makes a counter with the given name, help text and labels.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}
