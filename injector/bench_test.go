package injector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
)

// benchResolver is a read-only map, as a warm cache would be.
type benchResolver map[string]secret.Secret

func (r benchResolver) Resolve(_ context.Context, alias string) (secret.Secret, error) {
	s, ok := r[alias]
	if !ok {
		return secret.Secret{}, secret.ErrNotFound
	}
	return s, nil
}

func newBenchResolver() benchResolver {
	r := benchResolver{}
	for i := 0; i < 10; i++ {
		r[fmt.Sprintf("token_%d", i)] = secret.Secret{Type: secret.TypeToken,
			Value: secret.Value{Token: fmt.Sprintf("sk_live_%02d_4eC39HqLyjWDarjtT1zdp7dc", i)}}
	}
	r["cfg"] = secret.Secret{Type: secret.TypeJSON, Value: secret.Value{JSON: []byte(`{"region":"eu-west-1","key":"AKIA0123456789","nested":{"n":1}}`)}}
	return r
}

// jsonDoc builds a JSON notification payload of about size bytes holding
// the given placeholders in string values.
func jsonDoc(size int, placeholders []string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"notifications":[`)
	for i := 0; b.Len() < size-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"to":"+4915112345%03d","channel":"sms","body":"Hello {name}, your order #%d has shipped.","meta":{"tries":0}}`, i, i%1000, i)
	}
	b.WriteString(`],"auth":{`)
	for i, p := range placeholders {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":"%s"`, i, p)
	}
	b.WriteString(`}}`)
	return b.Bytes()
}

var sink []byte

// cpuTime returns the CPU time this process has used (all threads).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds CPU-time figures next to the wall-clock ones: on a shared
// 2-core machine wall time per op mostly measures the neighbours, while the
// CPU time this process spent per op (GC included) measures the code.
// Call it with the CPU time read before the loop.
func reportCPU(b *testing.B, start time.Duration, bytesPerOp int) {
	per := float64(cpuTime(b)-start) / float64(b.N)
	b.ReportMetric(per, "cpu-ns/op")
	if bytesPerOp > 0 && per > 0 {
		b.ReportMetric(float64(bytesPerOp)/per*1e9/1e6, "cpu-MB/s")
	}
}

// benchRewrite runs op on a fresh Rewriter per iteration, as the proxy does
// per request, and reports allocations and CPU time per op.
func benchRewrite(b *testing.B, r Resolver, bytesPerOp int, op func(w *Rewriter) ([]byte, error)) {
	b.SetBytes(int64(bytesPerOp))
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		w := NewRewriter(context.Background(), r, Options{Host: "api.example.com"})
		out, err := op(w)
		if err != nil {
			b.Fatal(err)
		}
		sink = out
		w.Release()
	}
	reportCPU(b, start, bytesPerOp)
}

// BenchmarkBodyNoPlaceholder1MiB: a 1 MiB JSON body without placeholder
// must pass through without a copy.
func BenchmarkBodyNoPlaceholder1MiB(b *testing.B) {
	body := jsonDoc(1<<20, nil)
	ct := []byte("application/json")
	benchRewrite(b, newBenchResolver(), len(body), func(w *Rewriter) ([]byte, error) {
		out, err := w.Body(body, ct, nil)
		if err == nil && len(out) != len(body) {
			b.Fatalf("body changed: %d bytes, want %d", len(out), len(body))
		}
		return out, err
	})
}

// BenchmarkBody4KiB10Placeholders: a 4 KiB JSON body with 10 placeholders.
func BenchmarkBody4KiB10Placeholders(b *testing.B) {
	r := newBenchResolver()
	var phs []string
	for i := 0; i < 9; i++ {
		phs = append(phs, fmt.Sprintf("Bearer {{secrets.token_%d}}", i))
	}
	phs = append(phs, "{{ secrets.cfg.key | base64 }}")
	body := jsonDoc(4096, phs)
	ct := []byte("application/json; charset=utf-8")
	w := NewRewriter(context.Background(), r, Options{Host: "api.example.com"})
	out, err := w.Body(body, ct, nil)
	if err != nil || bytes.Contains(out, []byte("{{")) || !json.Valid(out) || w.Replaced() != 10 {
		b.Fatalf("setup: %v", err)
	}
	w.Release()
	benchRewrite(b, r, len(body), func(w *Rewriter) ([]byte, error) {
		out, err := w.Body(body, ct, nil)
		if err == nil && len(out) <= len(body) {
			b.Fatalf("nothing injected: %d bytes", len(out))
		}
		return out, err
	})
}

// BenchmarkHeader: one header-only injection, the whole per-request cost.
func BenchmarkHeader(b *testing.B) {
	v := []byte("Bearer {{secrets.token_1}}")
	benchRewrite(b, newBenchResolver(), len(v), func(w *Rewriter) ([]byte, error) {
		out, err := w.HeaderValue(v)
		if err == nil && len(out) <= len("Bearer ") {
			b.Fatalf("nothing injected: %q", "Bearer ")
		}
		return out, err
	})
}

// BenchmarkGzipBody4KiB: the 4 KiB body gzip-encoded (decode, rewrite,
// re-encode).
func BenchmarkGzipBody4KiB(b *testing.B) {
	body := gz(b, jsonDoc(4096, []string{"{{secrets.token_1}}", "{{secrets.token_2}}"}))
	ct, ce := []byte("application/json"), []byte("gzip")
	benchRewrite(b, newBenchResolver(), len(body), func(w *Rewriter) ([]byte, error) {
		return w.Body(body, ct, ce)
	})
}

// BenchmarkScrub64KiB: scrubbing a 64 KiB response that echoes one value.
func BenchmarkScrub64KiB(b *testing.B) {
	val := "sk_live_01_4eC39HqLyjWDarjtT1zdp7dc"
	s := NewScrubber([]Injection{{Placeholder: "{{secrets.token_1}}", Value: []byte(val)}, {Placeholder: "{{secrets.token_2}}", Value: []byte("another-value-123")}})
	resp := []byte(strings.Repeat("x", 32<<10) + val + strings.Repeat("y", 32<<10))
	b.SetBytes(int64(len(resp)))
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		sink = s.Bytes(resp)
	}
	reportCPU(b, start, len(resp))
}
