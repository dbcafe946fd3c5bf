// Package lifecycle is the lifecycle of a long-running command: background loops
// (Vault token renewal, change feed), the main server, the operations
// server, and their ordered drain. `sidekey proxy` and `sidekey admin` both
// run through it, so they start and stop the same way:
//
//  1. the background loops and the ops server start, then the main server;
//  2. when ctx ends (SIGTERM) or the main or ops server fails, the main
//     server drains its requests in flight;
//  3. only then do the ops server (so /healthz and /metrics answer during
//     the drain) and the background loops (so the drain can still read
//     Vault) stop; Run waits for all of them.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Serve serves until its ctx ends, then drains and returns; a nil error
// after ctx ends means a clean drain.
type Serve func(ctx context.Context) error

// Loop is a background loop. Its error after the stop is ignored; one
// before is logged, and the command keeps serving (the loops recover or
// the readiness check reports it).
type Loop struct {
	Name string
	Run  func(ctx context.Context) error
}

// Parts are what a command runs.
type Parts struct {
	// Logger receives the loops' failures; nil discards them.
	Logger *zap.Logger
	// Loops run from the start until the main server has drained.
	Loops []Loop
	// Main is the command's server (required).
	Main Serve
	// Ops is the operations server (/metrics, /healthz, /readyz); nil
	// when it is off. It stops after Main has drained.
	Ops Serve
}

// Run runs p until ctx ends or a server fails, drains in order, and
// returns the servers' errors joined.
func Run(ctx context.Context, p Parts) error {
	if p.Main == nil {
		return errors.New("lifecycle: no main server")
	}
	log := p.Logger
	if log == nil {
		log = zap.NewNop()
	}
	// bg outlives ctx: the loops and the ops server stop after the drain.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	mainCtx, stopMain := context.WithCancel(ctx)
	defer stopMain()

	var wg sync.WaitGroup
	for _, l := range p.Loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Run(bg); err != nil && bg.Err() == nil {
				log.Error(l.Name+" stopped", zap.Error(err))
			}
		}()
	}
	var opsErr error
	if p.Ops != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if opsErr = p.Ops(bg); opsErr != nil {
				stopMain() // a dead ops listener is a failed deployment: drain
			}
		}()
	}
	mainErr := p.Main(mainCtx)
	stopBG()
	wg.Wait()
	return errors.Join(mainErr, opsErr)
}

// HTTP returns a Serve for srv on ln: it serves until ctx ends, then gives
// requests in flight up to drain to finish (http.Server.Shutdown).
func HTTP(srv *http.Server, ln net.Listener, drain time.Duration) Serve {
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		var err error
		select {
		case err = <-errc:
			return fmt.Errorf("serve %s: %w", ln.Addr(), err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
		defer cancel()
		if err = srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("drain %s: %w", ln.Addr(), err)
		}
		return nil
	}
}
