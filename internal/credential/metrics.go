package credential

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Minter's Prometheus series. Labels are kinds, outcomes
// and algorithms only: never an alias, a host or a value.
type metrics struct {
	exchanges  *prometheus.CounterVec   // kind, outcome
	latency    *prometheus.HistogramVec // kind
	hits       *prometheus.CounterVec   // kind
	misses     *prometheus.CounterVec   // kind
	signatures *prometheus.CounterVec   // algorithm, outcome

	hitsByKind map[Kind]prometheus.Counter // resolved once: no label hashing on a hit
}

// hit counts a token cache hit.
func (m *metrics) hit(k Kind) {
	if c, ok := m.hitsByKind[k]; ok {
		c.Inc()
		return
	}
	m.hits.WithLabelValues(string(k)).Inc()
}

func (m *metrics) resolve() *metrics {
	m.hitsByKind = make(map[Kind]prometheus.Counter, len(Kinds))
	for _, k := range Kinds {
		m.hitsByKind[k] = m.hits.WithLabelValues(string(k))
	}
	return m
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		exchanges: counterVec("sidekey_credential_exchanges_total",
			"Token exchanges and local mints by credential kind and outcome (ok, refused, failed, unreachable, malformed, empty, timeout, not_allowed).",
			"kind", "outcome"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sidekey_credential_exchange_seconds",
			Help:    "Duration of one token exchange attempt by credential kind.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
		hits: counterVec("sidekey_credential_token_cache_hits_total",
			"Derived tokens served from the token cache, by credential kind.", "kind"),
		misses: counterVec("sidekey_credential_token_cache_misses_total",
			"Derived token requests that waited for an exchange, by credential kind.", "kind"),
		signatures: counterVec("sidekey_credential_signatures_total",
			"Requests signed by algorithm and outcome (ok, failed).", "algorithm", "outcome"),
	}
	if reg == nil {
		return m.resolve(), nil
	}
	var err error
	for _, c := range []**prometheus.CounterVec{&m.exchanges, &m.hits, &m.misses, &m.signatures} {
		if *c, err = register(reg, *c); err != nil {
			return nil, err
		}
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	return m.resolve(), nil
}

// counterVec makes a counter with the given name, help text and labels.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// register registers c, or returns the collector already registered under
// its name (two Minters in one process share the series).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("credential: register metrics: %w", err)
}

// outcome names an exchange failure for the outcome label.
func outcome(err error) string {
	var xe *ExchangeError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrEndpointNotAllowed):
		return "not_allowed"
	case errors.As(err, &xe):
		switch {
		case xe.Status >= 400 && xe.Status < 500:
			return "refused"
		case xe.Status != 0:
			return "failed"
		case xe.Reason == "empty token":
			return "empty"
		case xe.Reason == "malformed response":
			return "malformed"
		case xe.Reason == "timeout":
			return "timeout"
		}
		return "unreachable"
	}
	return "invalid"
}
