package main

import (
	"os"
	"strings"
	"testing"
)

func TestProcReaders(t *testing.T) {
	pid := os.Getpid()
	if rss := vmRSS(pid); rss <= 0 {
		t.Errorf("vmRSS(self) = %d, want > 0", rss)
	}
	// Burn a little CPU so that utime is at least one tick.
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	if x == 0 {
		t.Fatal("unreachable")
	}
	if cpu := procCPU(pid, 100); cpu <= 0 {
		t.Errorf("procCPU(self) = %v, want > 0", cpu)
	}
	if busy, total := machineCPU(); total == 0 || busy > total {
		t.Errorf("machineCPU = %d/%d", busy, total)
	}
	if countFDs(pid) < 3 {
		t.Error("countFDs(self) < 3")
	}
	if n := ctxSwitches(pid); n <= 0 {
		t.Errorf("ctxSwitches(self) = %d, want > 0 (a test process has slept)", n)
	}
	if n := ctxSwitches(0); n != 0 {
		t.Errorf("ctxSwitches(0) = %d, want 0", n)
	}
	if l := loadAvg1(); l < 0 {
		t.Errorf("loadAvg1() = %v, want ≥ 0", l)
	}
}

func TestVerify(t *testing.T) {
	good := Result{Upstream: upstreamStats{Requests: 10, Verified: 10}}
	if p := verify(good, 10); p != "" {
		t.Errorf("verify(good) = %q, want no problem", p)
	}
	cases := map[string]struct {
		r        Result
		answered int64
		want     string
	}{
		"placeholder":  {Result{Upstream: upstreamStats{Requests: 10, Verified: 9, Mismatched: 1, Placeholders: 3}}, 10, "placeholders reached"},
		"lost":         {Result{Upstream: upstreamStats{Requests: 9, Verified: 9}}, 10, "upstream saw 9"},
		"leak":         {Result{Upstream: upstreamStats{Requests: 10, Verified: 10, Leaked: 1}}, 10, "Proxy-*"},
		"errors":       {Result{Errors: 2, FirstError: "status 502", Upstream: upstreamStats{Requests: 10, Verified: 10}}, 10, "2 request errors"},
		"nothing done": {Result{}, 0, "no request was answered"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if p := verify(c.r, c.answered); !strings.Contains(p, c.want) {
				t.Errorf("verify = %q, want it to mention %q", p, c.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if got := percentile(s, 0.5); got != 6 {
		t.Errorf("p50 = %v, want 6", got)
	}
	if got := percentile(s, 0.99); got != 10 {
		t.Errorf("p99 = %v, want 10", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("p50(nil) = %v", got)
	}
}
