package proxy

import (
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sidekey/sidekey/internal/ca"
)

// leafCache mints and keeps the leaf certificates presented to clients when
// the proxy intercepts TLS: one per host, short-lived, renewed when a
// quarter of its lifetime is left.
type leafCache struct {
	ca       *ca.CA
	validity time.Duration
	cache    *lru.Cache[string, *tls.Certificate]
	mint     sync.Mutex // serialises minting, so N clients of a new host cause one
	issued   func()     // metric hook
}

func newLeafCache(c *ca.CA, validity time.Duration, size int, issued func()) (*leafCache, error) {
	l, err := lru.New[string, *tls.Certificate](size)
	if err != nil {
		return nil, fmt.Errorf("proxy: leaf cache: %w", err)
	}
	return &leafCache{ca: c, validity: validity, cache: l, issued: issued}, nil
}

func (l *leafCache) fresh(cert *tls.Certificate, now time.Time) bool {
	return cert.Leaf.NotAfter.Sub(now) > l.validity/4
}

// get returns the leaf for host (a lower-case DNS name or IP address).
func (l *leafCache) get(host string) (*tls.Certificate, error) {
	now := time.Now()
	if cert, ok := l.cache.Get(host); ok && l.fresh(cert, now) {
		return cert, nil
	}
	l.mint.Lock()
	defer l.mint.Unlock()
	if cert, ok := l.cache.Get(host); ok && l.fresh(cert, now) {
		return cert, nil
	}
	cert, err := l.ca.Issue(host, now, l.validity)
	if err != nil {
		return nil, err
	}
	l.cache.Add(host, cert)
	if l.issued != nil {
		l.issued()
	}
	return cert, nil
}
