package credential_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"syscall"
	"testing"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/credential/credtest"
	"github.com/sidekey/sidekey/internal/secret"
)

// BenchmarkTokenCached is the cost a cached derived token adds on top of
// the secret's own cache hit: the token cache lookup. The token endpoint
// is called once, before the timer starts.
func BenchmarkTokenCached(b *testing.B) {
	srv := credtest.NewGoogleTokenServer(saEmail, fcmScope, 3600)
	defer srv.Close()
	key := credtest.NewRSAKey(b, "kid-one")
	srv.AddKey(key)
	m := newMinter(b, credential.Config{HTTPClient: srv.Client()})
	req := credential.TokenRequest{Tenant: tenant, Alias: "fcm", Version: 3, Kind: credential.KindGoogleServiceAccount,
		Object: credtest.ServiceAccountJSON(b, saEmail, srv.URL, key), Filter: credential.FilterGoogleAccessToken, Args: []string{fcmScope}}
	ctx := context.Background()
	if _, err := m.Token(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		if _, err := m.Token(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	if n := srv.Requests(); n != 1 {
		b.Fatalf("token endpoint saw %d requests, want 1 (no I/O on a hit)", n)
	}
}

// BenchmarkSigV4Sign1KiB signs a 1 KiB POST from scratch.
func BenchmarkSigV4Sign1KiB(b *testing.B) {
	m := newMinter(b, credential.Config{HTTPClient: http.DefaultClient})
	obj, _ := json.Marshal(map[string]string{"access_key_id": "AKIASIDEKEYBENCH0001", "secret_access_key": "bench/secret/key/0001", "session_token": "bench-session-token"})
	d, _ := credential.ParseDirective("aws-sigv4 secrets.sns")
	sr := credential.SignRequest{Directive: d, Type: secret.TypeJSON, Kind: credential.KindAWSCredentials, Object: obj}
	body := bytes.Repeat([]byte("a"), 1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	cpu0 := processCPU(b)
	for b.Loop() {
		r := &credential.Request{Method: "POST", Host: "sns.eu-west-1.amazonaws.com", Path: "/",
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: body}
		if _, err := m.Sign(ctx, sr, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user+system CPU time in ns: what an operation
// costs on a shared, busy machine where wall time overstates it.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
