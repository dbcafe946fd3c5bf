package proxy

import (
	"cmp"
	"context"
	"crypto/x509"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sidekey/sidekey/internal/ca"
	"github.com/sidekey/sidekey/internal/confcheck"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/tenantauth"
)

// Resolver returns a tenant's secret by lower-case alias. It returns errors
// wrapping secret.ErrNotFound or secret.ErrUnavailable. *vaultstore.Cache
// implements it.
type Resolver interface {
	Resolve(ctx context.Context, t secret.Tenant, alias string) (secret.Secret, error)
}

// Defaults of the Config fields left zero.
const (
	DefaultMaxBodyBytes    = 8 << 20
	DefaultMaxHeaderBytes  = 64 << 10
	DefaultReadTimeout     = 30 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultIdleTimeout     = 90 * time.Second
	DefaultUpstreamTimeout = 30 * time.Second
	DefaultMaxConns        = 4096
	DefaultDrainTimeout    = 15 * time.Second
	DefaultLeafValidity    = 24 * time.Hour
	DefaultLeafCacheSize   = 1024
	DefaultMaxScrubBytes   = 32 << 20
)

// Config configures a Proxy. Resolver, Keys and CA are required; zero
// limits take the defaults above.
type Config struct {
	// Resolver reads secrets (normally a *vaultstore.Cache).
	Resolver Resolver
	// Registerer receives the proxy's metrics (the command gathers them and
	// serves them with internal/ops); nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Ping reports whether the secret store answers; /readyz turns ready
	// after its first success. Nil means ready at once.
	Ping func(ctx context.Context) error
	// Keys verify the tenant credential of Proxy-Authorization.
	Keys *tenantauth.Keys
	// CA signs the leaf certificates of intercepted TLS.
	CA *ca.CA

	// PassthroughHosts are host globs (as allowed_hosts) whose CONNECT
	// tunnels are passed through without interception or injection.
	PassthroughHosts []string
	// AllowPlainHTTPInjection permits injecting into http:// upstreams.
	AllowPlainHTTPInjection bool
	// AllowUpstreamCIDRs exempt destinations from the SSRF guard.
	AllowUpstreamCIDRs []netip.Prefix
	// UpstreamRoots verify upstream TLS; nil means the system roots.
	UpstreamRoots *x509.CertPool
	// ScrubResponses replaces injected values found in responses.
	ScrubResponses bool

	MaxBodyBytes    int           // request body limit
	MaxHeaderBytes  int           // request line plus headers limit
	ReadTimeout     time.Duration // reading one request from a client
	WriteTimeout    time.Duration // writing one response to a client
	IdleTimeout     time.Duration // keep-alive idle limit, clients and upstreams
	UpstreamTimeout time.Duration // one upstream exchange: dial, write, read
	MaxConns        int           // concurrent client connections (plus as many tunnels)
	DrainTimeout    time.Duration // graceful drain on shutdown
	LeafValidity    time.Duration // lifetime of minted leaf certificates
	LeafCacheSize   int           // leaf certificates kept
	MaxScrubBytes   int           // largest response body buffered for scrubbing

	// H2MaxConcurrentStreams bounds the open streams (and running
	// handlers) of one HTTP/2 client connection.
	H2MaxConcurrentStreams int
	// UpstreamHTTP2 is UpstreamHTTP2Auto (offer h2 to TLS upstreams, the
	// default when empty) or UpstreamHTTP2Off.
	UpstreamHTTP2 string

	// LookupNetIP resolves upstream names; nil means net.DefaultResolver.
	// Tests use it to point names at loopback.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DefaultConfig returns the configuration with every default filled in;
// the command's flags bind onto it. The convention of every numeric field:
// zero means the default, a negative value is an error (Validate names the
// field). Resolver, Keys and CA have no default.
func DefaultConfig() Config {
	var c Config
	c.ScrubResponses = true
	c.setDefaults()
	return c
}

// setDefaults fills the zero fields with their defaults.
func (c *Config) setDefaults() {
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.MaxHeaderBytes = cmp.Or(c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	c.MaxConns = cmp.Or(c.MaxConns, DefaultMaxConns)
	c.LeafCacheSize = cmp.Or(c.LeafCacheSize, DefaultLeafCacheSize)
	c.MaxScrubBytes = cmp.Or(c.MaxScrubBytes, DefaultMaxScrubBytes)
	c.H2MaxConcurrentStreams = cmp.Or(c.H2MaxConcurrentStreams, DefaultH2MaxConcurrentStreams)
	c.UpstreamHTTP2 = cmp.Or(c.UpstreamHTTP2, UpstreamHTTP2Auto)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, DefaultReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.UpstreamTimeout = cmp.Or(c.UpstreamTimeout, DefaultUpstreamTimeout)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, DefaultDrainTimeout)
	c.LeafValidity = cmp.Or(c.LeafValidity, DefaultLeafValidity)
}

// Validate reports every invalid value of c, each as a
// *confcheck.FieldError naming the field by its Go name, joined: negative
// sizes and durations, malformed passthrough globs, an unknown
// UpstreamHTTP2. It does not require Resolver, Keys or CA (New does), so a
// command can check its flags before dialling anything.
func (c Config) Validate() error {
	ck := confcheck.New("proxy")
	c.check(ck)
	return ck.Err()
}

// check records the invalid values Validate reports in ck.
func (c *Config) check(ck *confcheck.Checker) {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxBodyBytes", c.MaxBodyBytes}, {"MaxHeaderBytes", c.MaxHeaderBytes}, {"MaxConns", c.MaxConns},
		{"LeafCacheSize", c.LeafCacheSize}, {"MaxScrubBytes", c.MaxScrubBytes}, {"H2MaxConcurrentStreams", c.H2MaxConcurrentStreams},
	} {
		confcheck.NotNegative(ck, f.name, f.v)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"ReadTimeout", c.ReadTimeout}, {"WriteTimeout", c.WriteTimeout}, {"IdleTimeout", c.IdleTimeout},
		{"UpstreamTimeout", c.UpstreamTimeout}, {"DrainTimeout", c.DrainTimeout}, {"LeafValidity", c.LeafValidity},
	} {
		confcheck.NotNegative(ck, f.name, f.d)
	}
	if _, err := secret.NormalizeHostGlobs("passthrough-hosts", c.PassthroughHosts); err != nil {
		ck.Fail("PassthroughHosts", "%v", err)
	}
	if c.UpstreamHTTP2 != "" && c.UpstreamHTTP2 != UpstreamHTTP2Auto && c.UpstreamHTTP2 != UpstreamHTTP2Off {
		ck.Fail("UpstreamHTTP2", "%q must be %q or %q", c.UpstreamHTTP2, UpstreamHTTP2Auto, UpstreamHTTP2Off)
	}
}

// validate is Validate plus the parts New needs.
func (c *Config) validate() error {
	ck := confcheck.New("proxy")
	if c.Resolver == nil {
		ck.Fail("Resolver", "required")
	}
	if c.Keys == nil {
		ck.Fail("Keys", "required (the tenant keys)")
	}
	if c.CA == nil {
		ck.Fail("CA", "required")
	}
	c.check(ck)
	return ck.Err()
}
