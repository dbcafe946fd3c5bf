package reliability

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// traffic is background load: workers that each send requests one after
// another (with a pause between two) until stopped, a time bound or a
// count bound, whichever comes first. It tallies outcomes.
type traffic struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	tally map[string]int
	total int
}

// startTraffic starts workers calling send. limit bounds the traffic's
// length, maxPerWorker its requests per worker.
func startTraffic(workers int, pause, limit time.Duration, maxPerWorker int, send func() outcome) *traffic {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	tr := &traffic{cancel: cancel, tally: make(map[string]int)}
	for range workers {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for range maxPerWorker {
				if ctx.Err() != nil {
					return
				}
				o := send()
				key := o.String()
				if o.err != nil {
					key = "error" // the detail varies per request; it is logged below
				}
				tr.mu.Lock()
				tr.tally[key]++
				tr.total++
				tr.mu.Unlock()
				if pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(pause):
					}
				}
			}
		}()
	}
	return tr
}

// count returns how many requests have completed so far.
func (tr *traffic) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.total
}

// stop ends the traffic, waits for the workers and returns the tally.
func (tr *traffic) stop() map[string]int {
	tr.cancel()
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make(map[string]int, len(tr.tally))
	for k, v := range tr.tally {
		out[k] = v
	}
	return out
}

// stopAllOK stops the traffic, logs its tally and fails the test unless
// every request was answered 200; what names the traffic.
func (tr *traffic) stopAllOK(t testing.TB, what string) {
	t.Helper()
	tally := tr.stop()
	t.Logf("%s: %s", what, describeTally(tally))
	if len(tally) != 1 || tally[outcome{status: http.StatusOK}.String()] == 0 {
		t.Errorf("%s: %s; want every one 200", what, describeTally(tally))
	}
}

// describeTally prints a tally in a stable order.
func describeTally(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
