package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSoakVerdict(t *testing.T) {
	flat := make([]int64, 31) // 5 minutes every 10 s
	grow := make([]int64, 31)
	for i := range flat {
		flat[i] = 40_000 + int64(i%3)*500
		grow[i] = 40_000 + int64(i)*1_000
	}
	for name, c := range map[string]struct {
		samples []int64
		want    string
	}{
		"flat":    {flat, "| met |"},
		"growing": {grow, "**missed**"},
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			writeSoak(&b, result{Window: 300, RSSEverySec: 10, RSSSamples: c.samples})
			if !strings.Contains(b.String(), c.want) {
				t.Errorf("report lacks %q:\n%s", c.want, b.String())
			}
		})
	}
}

func TestRatioOfMedians(t *testing.T) {
	a := []result{{Round: 1, RPS: 300}, {Round: 2, RPS: 200}, {Round: 3, RPS: 100}}
	b := []result{{Round: 1, RPS: 100}, {Round: 2, RPS: 100}, {Round: 3, RPS: 100}}
	med, lo, hi, ok := ratio(a, b, func(r result) float64 { return r.RPS })
	if !ok || med != 2 || lo != 1 || hi != 3 {
		t.Errorf("ratio = %v (%v–%v) ok=%v, want 2 (1–3)", med, lo, hi, ok)
	}
	if _, _, _, ok := ratio(a, nil, func(r result) float64 { return r.RPS }); ok {
		t.Error("ratio against no results must not be ok")
	}
}

func TestRatiosTable(t *testing.T) {
	byCase := map[string][]result{
		"sidekey-plain-inject":    {{Mode: "load", Round: 1, RPS: 9000, ReqPerProxyCPU: 30000}},
		"squid-plain":             {{Mode: "load", Round: 1, RPS: 5000, ReqPerProxyCPU: 10000}},
		"direct-1c":               {{Mode: "load", Round: 1, P50us: 12}},
		"sidekey-plain-inject-1c": {{Mode: "load", Round: 1, P50us: 200}},
	}
	var b bytes.Buffer
	writeRatios(&b, byCase)
	got := b.String()
	for _, want := range []string{
		"| target |",
		"Sidekey injecting (http://) ÷ Squid plain forward, req/s ≥ 2× | 1.80× (1.80–1.80) | **missed** |",
		"Squid plain forward, req per proxy CPU-s ≥ 2× | 3.00× (3.00–3.00) | met |",
		"http:// injecting, pinned ≤ 150 µs | 188 µs (188–188) | **missed** |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ratios lack %q:\n%s", want, got)
		}
	}
	var empty bytes.Buffer
	writeRatios(&empty, map[string][]result{})
	if empty.Len() != 0 {
		t.Errorf("no results must print nothing, got:\n%s", empty.String())
	}
}
