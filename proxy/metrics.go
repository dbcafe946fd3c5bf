package proxy

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sidekey/sidekey/vaultstore"
)

// mode is how a request reached the proxy, the "mode" label of
// sidekey_proxy_requests_total.
type mode string

// Request modes.
const (
	modeIntercepted mode = "intercepted" // a request inside an intercepted CONNECT tunnel, HTTP/1.1 or HTTP/2
	modeHTTPS            = "https"       // absolute-form https:// over plain HTTP
	modeHTTP             = "http"        // absolute-form http://
	modeConnect          = "connect"     // a CONNECT that was refused or failed
	modePassthrough      = "passthrough" // a tunnel passed through untouched
	modeOther            = "other"       // not a proxy request
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
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	okByMode   map[mode]prometheus.Counter
	injections [numLocations]prometheus.Counter
	scrubbed   *prometheus.CounterVec
	resolve    *prometheus.HistogramVec
	vaultReads [3]prometheus.Observer // ok, not_found, error
	upstream   prometheus.Histogram
	tunnels    prometheus.Gauge
	leafIssued prometheus.Counter
	authFailed prometheus.Counter
}

func newMetrics(openConns func() float64) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	vaultReads := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sidekey_vault_read_seconds",
		Help:    "Time of the cache's Vault reads alone (hits excluded, coalesced misses once), by outcome.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"outcome"})
	for i, o := range []string{"ok", "not_found", "error"} {
		m.vaultReads[i] = vaultReads.WithLabelValues(o)
	}
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
	m.reg.MustRegister(m.requests, injections, m.scrubbed, m.resolve, vaultReads, m.upstream, m.tunnels, m.leafIssued, m.authFailed, conns)

	m.okByMode = map[mode]prometheus.Counter{}
	for _, md := range []mode{modeIntercepted, modeHTTPS, modeHTTP, modePassthrough} {
		m.okByMode[md] = m.requests.WithLabelValues(string(md), "ok")
	}
	for i, name := range locationNames {
		m.injections[i] = injections.WithLabelValues(name)
	}
	return m
}

// vaultRead records one Vault read of the cache.
func (m *metrics) vaultRead(d time.Duration, err error) {
	i := 0
	switch {
	case err == nil:
	case errors.Is(err, vaultstore.ErrNotFound):
		i = 1
	default:
		i = 2
	}
	m.vaultReads[i].Observe(d.Seconds())
}

func (m *metrics) ok(md mode) { m.okByMode[md].Inc() }

func (m *metrics) failed(md mode, code Code) {
	m.requests.WithLabelValues(string(md), string(code)).Inc()
}

// cacheStatser is implemented by *vaultstore.Cache.
type cacheStatser interface {
	Stats() vaultstore.CacheStats
}

// registerCacheStats exports the cache's counters (hits, misses, stale
// serving, Vault reads, feed polls) as sidekey_cache_* counters.
func (m *metrics) registerCacheStats(c cacheStatser) {
	counter := func(name, help string, get func(vaultstore.CacheStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(get(c.Stats())) })
	}
	m.reg.MustRegister(
		counter("sidekey_cache_hits_total", "Secrets answered from the cache.", func(s vaultstore.CacheStats) uint64 { return s.Hits }),
		counter("sidekey_cache_negative_hits_total", "Not-founds answered from the cache.", func(s vaultstore.CacheStats) uint64 { return s.NegativeHits }),
		counter("sidekey_cache_misses_total", "Resolutions that needed Vault.", func(s vaultstore.CacheStats) uint64 { return s.Misses }),
		counter("sidekey_cache_vault_reads_total", "Vault reads started (coalesced misses count once).", func(s vaultstore.CacheStats) uint64 { return s.Reads }),
		counter("sidekey_cache_stale_served_total", "Values served past their TTL while Vault was unreachable.", func(s vaultstore.CacheStats) uint64 { return s.StaleServed }),
		counter("sidekey_cache_unavailable_total", "Resolutions answered store_unavailable.", func(s vaultstore.CacheStats) uint64 { return s.Unavailable }),
		counter("sidekey_cache_evictions_total", "Entries evicted by the change feed.", func(s vaultstore.CacheStats) uint64 { return s.Evictions }),
		counter("sidekey_cache_flushes_total", "Whole-cache flushes.", func(s vaultstore.CacheStats) uint64 { return s.Flushes }),
		counter("sidekey_cache_feed_polls_total", "Successful change-feed polls.", func(s vaultstore.CacheStats) uint64 { return s.FeedPolls }),
		counter("sidekey_cache_feed_errors_total", "Failed change-feed polls.", func(s vaultstore.CacheStats) uint64 { return s.FeedErrors }),
	)
}

// ObserveVaultRead records one Vault read (its duration and error) in the
// sidekey_vault_read_seconds histogram, labelled outcome="ok", "not_found"
// or "error". It has the signature of vaultstore.CacheConfig.ObserveRead;
// cache hits are not Vault reads and are not observed.
func (p *Proxy) ObserveVaultRead(d time.Duration, err error) { p.m.vaultRead(d, err) }
