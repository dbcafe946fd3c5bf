package proxy

import (
	"context"
	"errors"
)

// CheckReady is the proxy's readiness for internal/ops' /readyz: ready
// once the store answered and while not draining. The error says which.
func (p *Proxy) CheckReady(context.Context) error {
	switch {
	case p.draining.Load():
		return errors.New("draining")
	case !p.ready.Load():
		return errors.New("the secret store has not answered yet")
	}
	return nil
}
