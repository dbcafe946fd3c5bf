package vaultstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// TestKindStoredAndLocked: a json secret's credential kind is stored with
// it, read by the sidecar with the value's version, kept and locked by
// rotate, and a rotation's CheckValue sees the stored kind.
func TestKindStoredAndLocked(t *testing.T) {
	srv := vaulttest.Start(t)
	admin, side := stAdmin(t, srv), stSidecar(t, srv)
	ctx := context.Background()
	tn := secret.Tenant{Org: "acme", Domain: "kinds"}
	md, err := admin.Create(ctx, tn, secret.CreateInput{Alias: "wh", Type: secret.TypeJSON, Kind: "hmac_key",
		Value: secret.Value{JSON: []byte(`{"key":"k1","encoding":"raw"}`)}, Actor: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if md.Kind != "hmac_key" {
		t.Fatalf("created kind %q", md.Kind)
	}
	got, err := admin.Get(ctx, tn, "wh")
	if err != nil || got.Kind != "hmac_key" {
		t.Fatalf("Get: %+v %v", got, err)
	}
	sec, err := side.Read(ctx, tn, "wh")
	if err != nil || sec.Kind != "hmac_key" || sec.Version != md.Version {
		t.Fatalf("Read: kind %q version %d (want %d) %v", sec.Kind, sec.Version, md.Version, err)
	}
	if _, err := admin.Rotate(ctx, tn, "wh", secret.RotateInput{Kind: "aws_credentials", Value: secret.Value{JSON: []byte(`{"a":1}`)}}); !errors.Is(err, secret.ErrTypeLocked) {
		t.Fatalf("rotate to another kind: %v", err)
	}
	refuse := errors.New("does not fit")
	var seen string
	if _, err := admin.Rotate(ctx, tn, "wh", secret.RotateInput{Value: secret.Value{JSON: []byte(`{"key":"k2"}`)},
		CheckValue: func(kind string, _ secret.Value) error { seen = kind; return refuse }}); !errors.Is(err, refuse) || seen != "hmac_key" {
		t.Fatalf("CheckValue: saw %q, err %v", seen, err)
	}
	r, err := admin.Rotate(ctx, tn, "wh", secret.RotateInput{Value: secret.Value{JSON: []byte(`{"key":"k3","encoding":"raw"}`)}})
	if err != nil || r.Current.Kind != "hmac_key" {
		t.Fatalf("rotate: %+v %v", r.Current, err)
	}
	sec, err = side.Read(ctx, tn, "wh")
	if err != nil || sec.Kind != "hmac_key" || sec.Version != r.Current.Version || sec.Version == md.Version {
		t.Fatalf("Read after rotate: kind %q version %d %v", sec.Kind, sec.Version, err)
	}
}

// TestCacheOnChange: the change feed reports a rotation to OnChange (the
// proxy drops the tokens derived from the secret there).
func TestCacheOnChange(t *testing.T) {
	srv := vaulttest.Start(t)
	admin, side := stAdmin(t, srv), stSidecar(t, srv)
	tn := secret.Tenant{Org: "acme", Domain: "feed"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := admin.Create(ctx, tn, secret.CreateInput{Alias: "fcm", Type: secret.TypeToken, Value: secret.Value{Token: "v1"}, Actor: "t"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 8)
	c, err := NewCache(side.reader(), CacheConfig{FeedInterval: 50 * time.Millisecond,
		OnChange: func(t secret.Tenant, alias string) { got <- t.String() + "/" + alias }})
	if err != nil {
		t.Fatal(err)
	}
	defer goRun(t, c.Run)()
	if _, err := c.Resolve(ctx, tn, "fcm"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); c.Stats().FeedPolls == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // a bound, not a timed assertion
			t.Fatal("the change feed was not polled within 10 s")
		}
	}
	if _, err := admin.Rotate(ctx, tn, "fcm", secret.RotateInput{Value: secret.Value{Token: "v2"}, Actor: "t"}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "acme/feed/fcm" {
			t.Fatalf("OnChange(%s)", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnChange not called within 10 s of a rotation")
	}
}
