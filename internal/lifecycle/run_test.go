package lifecycle

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestOrderedDrain: when ctx ends, the main server drains while the ops
// server and the loops still run; they stop only after it returns.
func TestOrderedDrain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	loopUp, opsUp := make(chan struct{}), make(chan struct{})
	var opsCtx, loopCtx context.Context
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Parts{
			Loops: []Loop{{Name: "loop", Run: func(c context.Context) error {
				loopCtx = c
				close(loopUp)
				<-c.Done()
				note("loop stopped")
				return c.Err()
			}}},
			Ops: func(c context.Context) error {
				opsCtx = c
				close(opsUp)
				<-c.Done()
				note("ops stopped")
				return nil
			},
			Main: func(c context.Context) error {
				<-loopUp
				<-opsUp
				cancel()
				<-c.Done()
				// Draining: the loop and the ops server still run.
				if loopCtx.Err() != nil || opsCtx.Err() != nil {
					t.Error("a loop or the ops server stopped before the main server drained")
				}
				note("main drained")
				return nil
			},
		})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(order) != 3 || order[0] != "main drained" {
		t.Fatalf("order %v, want main drained first", order)
	}
}

// TestOpsFailureDrainsMain: an ops server that fails ends the command and
// its error is returned.
func TestOpsFailureDrainsMain(t *testing.T) {
	boom := errors.New("ops listener closed")
	err := Run(context.Background(), Parts{
		Ops:  func(context.Context) error { return boom },
		Main: func(c context.Context) error { <-c.Done(); return nil },
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

// TestMainFailureStopsLoops: a main server that fails stops the loops and
// the ops server, and Run returns its error.
func TestMainFailureStopsLoops(t *testing.T) {
	boom := errors.New("listener closed")
	stopped := make(chan struct{})
	err := Run(context.Background(), Parts{
		Loops: []Loop{{Name: "loop", Run: func(c context.Context) error { <-c.Done(); close(stopped); return nil }}},
		Ops:   func(c context.Context) error { <-c.Done(); return nil },
		Main:  func(context.Context) error { return boom },
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the loop still runs after Run returned")
	}
	if Run(context.Background(), Parts{}) == nil {
		t.Fatal("Run without a main server succeeded")
	}
}

// TestHTTPDrainsInFlight: HTTP lets a request in flight finish after ctx
// ends, on a real loopback listener.
func TestHTTPDrainsInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inHandler, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(inHandler)
		<-release
		_, _ = io.WriteString(w, "finished")
	})}
	shuttingDown := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(shuttingDown) })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- HTTP(srv, ln, time.Minute)(ctx) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-inHandler
	cancel()
	<-shuttingDown // the drain has begun with the request still in flight
	close(release)
	if body := <-got; body != "finished" {
		t.Fatalf("in-flight request got %q", body)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
