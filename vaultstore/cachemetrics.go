package vaultstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sidekey/sidekey/internal/secret"
)

// cacheMetrics are the cache's own Prometheus metrics, registered with
// CacheConfig.Registerer: the Vault read histogram and the Stats counters.
type cacheMetrics struct {
	reads [3]prometheus.Observer // ok, not_found, error
}

func newCacheMetrics(reg prometheus.Registerer, stats func() CacheStats) (*cacheMetrics, error) {
	reads := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sidekey_vault_read_seconds",
		Help:    "Time of the cache's Vault reads alone (hits excluded, coalesced misses once), by outcome.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"outcome"})
	m := &cacheMetrics{}
	for i, o := range [...]string{"ok", "not_found", "error"} {
		m.reads[i] = reads.WithLabelValues(o)
	}
	if reg == nil {
		return m, nil
	}
	counter := func(name, help string, get func(CacheStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(get(stats())) })
	}
	for _, c := range []prometheus.Collector{
		reads,
		counter("sidekey_cache_hits_total", "Secrets answered from the cache.", func(s CacheStats) uint64 { return s.Hits }),
		counter("sidekey_cache_negative_hits_total", "Not-founds answered from the cache.", func(s CacheStats) uint64 { return s.NegativeHits }),
		counter("sidekey_cache_misses_total", "Resolutions that needed Vault.", func(s CacheStats) uint64 { return s.Misses }),
		counter("sidekey_cache_vault_reads_total", "Vault reads started (coalesced misses count once).", func(s CacheStats) uint64 { return s.Reads }),
		counter("sidekey_cache_stale_served_total", "Values served past their TTL while Vault was unreachable.", func(s CacheStats) uint64 { return s.StaleServed }),
		counter("sidekey_cache_unavailable_total", "Resolutions answered store_unavailable.", func(s CacheStats) uint64 { return s.Unavailable }),
		counter("sidekey_cache_evictions_total", "Entries evicted by the change feed.", func(s CacheStats) uint64 { return s.Evictions }),
		counter("sidekey_cache_flushes_total", "Whole-cache flushes.", func(s CacheStats) uint64 { return s.Flushes }),
		counter("sidekey_cache_feed_polls_total", "Successful change-feed polls.", func(s CacheStats) uint64 { return s.FeedPolls }),
		counter("sidekey_cache_feed_errors_total", "Failed change-feed polls.", func(s CacheStats) uint64 { return s.FeedErrors }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("vaultstore: cache metrics: %w", err)
		}
	}
	return m, nil
}

// observeRead records one Vault read by its outcome.
func (m *cacheMetrics) observeRead(d time.Duration, err error) {
	i := 0
	switch {
	case err == nil:
	case errors.Is(err, secret.ErrNotFound):
		i = 1
	default:
		i = 2
	}
	m.reads[i].Observe(d.Seconds())
}
