package proxy

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/tenantauth"
)

const headerProxyAuthorization = "Proxy-Authorization"

// maxAuthCache bounds the verified-credential cache; it is cleared when full.
const maxAuthCache = 4096

// authenticator checks Proxy-Authorization. Verified header values are
// remembered (keys only change on restart), so a keep-alive sender pays the
// base64 decoding and HMAC once per distinct credential, not per request.
type authenticator struct {
	keys     *tenantauth.Keys
	failures prometheus.Counter
	mu       sync.RWMutex
	seen     map[string]secret.Tenant
}

func newAuthenticator(keys *tenantauth.Keys, failures prometheus.Counter) *authenticator {
	return &authenticator{keys: keys, failures: failures, seen: make(map[string]secret.Tenant)}
}

// tenant returns the tenant the request's credential binds it to.
func (a *authenticator) tenant(h *fasthttp.RequestHeader) (secret.Tenant, error) {
	v := h.Peek(headerProxyAuthorization)
	if len(v) == 0 {
		return secret.Tenant{}, a.refuse(CodeProxyAuthRequired,
			"Proxy-Authorization is required: Basic base64(\"<org>.<domain>:<credential>\")")
	}
	a.mu.RLock()
	t, ok := a.seen[string(v)]
	a.mu.RUnlock()
	if ok {
		return t, nil
	}
	var scratch [256]byte
	t, cred, err := tenantauth.Parse(v, scratch[:])
	if err != nil {
		return secret.Tenant{}, a.refuse(CodeProxyAuthInvalid,
			"Proxy-Authorization must be Basic base64(\"<org>.<domain>:<credential>\")")
	}
	if !a.keys.Verify(t, cred) {
		return secret.Tenant{}, a.refuse(CodeProxyAuthInvalid, "the credential is not valid for tenant "+t.String())
	}
	a.mu.Lock()
	if len(a.seen) >= maxAuthCache {
		clear(a.seen)
	}
	a.seen[string(v)] = t
	a.mu.Unlock()
	return t, nil
}

// refuse counts a refused credential and returns its error.
func (a *authenticator) refuse(code Code, msg string) error {
	a.failures.Inc()
	return newError(code, msg)
}
