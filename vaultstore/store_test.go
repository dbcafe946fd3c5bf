package vaultstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
)

// These tests run against a real dev Vault (bin/vaultdev, `make vault`).
// Values are random and distinctive; failure messages print their lengths,
// never the values, and stValues.check asserts that no error message holds
// one.

// stValues remembers the values a test wrote.
type stValues struct {
	mu   sync.Mutex
	vals []string
}

func (v *stValues) new(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	s := "sv-" + hex.EncodeToString(b)
	v.mu.Lock()
	v.vals = append(v.vals, s)
	v.mu.Unlock()
	return s
}

// check fails the test if err's message holds a value.
func (v *stValues) check(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, val := range v.vals {
		if strings.Contains(err.Error(), val) {
			t.Fatalf("error message holds a secret value (%d bytes)", len(val))
		}
	}
}

// stTenant returns a tenant of the test's own on a shared server.
func stTenant(tb testing.TB) secret.Tenant {
	tb.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return secret.Tenant{Org: "org-" + hex.EncodeToString(b), Domain: "mail"}
}

// stOpen returns a store logged in to the Vault at addr with auth, logging
// to the test (not in benchmarks); a zero timeout takes the default.
func stOpen(tb testing.TB, addr string, auth AuthConfig, timeout time.Duration) *testStore {
	tb.Helper()
	log := zap.NewNop()
	if _, bench := tb.(*testing.B); !bench {
		log = zaptest.NewLogger(tb)
	}
	s, err := openStore(tb.Context(), Config{Address: addr, Auth: auth, Timeout: timeout, Logger: log})
	if err != nil {
		tb.Fatalf("log in to %s: %v", addr, err)
	}
	return s
}

// stStore returns a store on srv with the given auth.
func stStore(t *testing.T, srv *vaulttest.Server, auth AuthConfig) *testStore {
	t.Helper()
	return stOpen(t, srv.Addr, auth, 5*time.Second)
}

// stAdmin is a store logged in with the admin API's policy.
func stAdmin(tb testing.TB, srv *vaulttest.Server) *testStore {
	tb.Helper()
	return stOpen(tb, srv.Addr, stToken(srv.AdminToken(tb)), 5*time.Second)
}

// stSidecar is a store logged in with the proxy's read-only policy.
func stSidecar(tb testing.TB, srv *vaulttest.Server) *testStore {
	tb.Helper()
	return stOpen(tb, srv.Addr, stToken(srv.SidecarToken(tb)), 5*time.Second)
}

// stStores returns an admin store, a sidecar store and a tenant of the
// test's own on srv.
func stStores(t *testing.T, srv *vaulttest.Server) (admin, sidecar *testStore, tn secret.Tenant) {
	t.Helper()
	return stAdmin(t, srv), stSidecar(t, srv), stTenant(t)
}

// stSeed creates the token secret "a" with a new value of vals in a tenant
// of the test's own, as the admin, and returns the tenant and the value.
func stSeed(t *testing.T, srv *vaulttest.Server, vals *stValues) (secret.Tenant, string) {
	t.Helper()
	tn, val := stTenant(t), vals.new(t)
	createToken(t, stAdmin(t, srv), tn, "a", val)
	return tn, val
}

func stToken(token string) AuthConfig { return AuthConfig{Method: MethodToken, Token: token} }

// goRun runs run in a goroutine until stop: stop cancels run's context and
// fails the test unless run then returns nil.
func goRun(t *testing.T, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run returned %v, want nil after its context ended", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not stop after its context ended")
		}
	}
}

// stRun runs s.Run for the rest of the test and checks that it stops with
// its context.
func stRun(t *testing.T, s *testStore) {
	t.Helper()
	t.Cleanup(goRun(t, s.Run))
}

// concurrently runs f(0) … f(n-1) on n goroutines released together, and
// waits for them all.
func concurrently(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

func mustCreate(t *testing.T, s *testStore, tn secret.Tenant, in secret.CreateInput) secret.Metadata {
	t.Helper()
	md, err := s.Create(t.Context(), tn, in)
	if err != nil {
		t.Fatalf("Create %s: %v", in.Alias, err)
	}
	return md
}

// createToken creates the token secret alias with the value token.
func createToken(t *testing.T, s *testStore, tn secret.Tenant, alias, token string) {
	t.Helper()
	mustCreate(t, s, tn, secret.CreateInput{Alias: alias, Type: secret.TypeToken, Value: secret.Value{Token: token}, Actor: "test"})
}

func mustReadToken(t *testing.T, s *testStore, tn secret.Tenant, alias, want string) {
	t.Helper()
	got, err := s.Read(t.Context(), tn, alias)
	if err != nil {
		t.Fatalf("Read %s: %v", alias, err)
	}
	if got.Type != secret.TypeToken || got.Value.Token != want {
		t.Fatalf("Read %s: type %s, token of %d bytes; want token of %d bytes", alias, got.Type, len(got.Value.Token), len(want))
	}
}

func TestCreateConcurrentExactlyOneWins(t *testing.T) {
	s, reader, tn := stStores(t, vaulttest.Shared(t))
	var vals stValues

	// race creates alias from 20 writers at once and returns the value of
	// the one that won.
	race := func(alias string) (winnerValue string) {
		const n = 20
		values := make([]string, n)
		for i := range values {
			values[i] = vals.new(t)
		}
		errs := make([]error, n)
		concurrently(n, func(i int) {
			_, errs[i] = s.Create(t.Context(), tn, secret.CreateInput{Alias: alias, Type: secret.TypeToken, Value: secret.Value{Token: values[i]}, Actor: fmt.Sprint("u", i)})
		})
		winner, taken := -1, 0
		for i, err := range errs {
			vals.check(t, err)
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("creates %d and %d both succeeded", winner, i)
				}
				winner = i
			case errors.Is(err, secret.ErrAliasTaken):
				taken++
			default:
				t.Fatalf("create %d: %v, want nil or ErrAliasTaken", i, err)
			}
		}
		if winner < 0 || taken != n-1 {
			t.Fatalf("%d successes and %d ErrAliasTaken, want 1 and %d", n-taken, taken, n-1)
		}
		return values[winner]
	}

	alias := "race"
	mustReadToken(t, reader, tn, alias, race(alias))

	// An archived alias races the same way.
	if _, err := s.Archive(t.Context(), tn, alias, "admin"); err != nil {
		t.Fatalf("Archive: %v", err)
	}
	mustReadToken(t, reader, tn, alias, race(alias))
}

func TestRotateKeepsAliasAndType(t *testing.T) {
	s, reader, tn := stStores(t, vaulttest.Shared(t))
	var vals stValues

	first := vals.new(t)
	created := mustCreate(t, s, tn, secret.CreateInput{Alias: "Weather_FX", Type: secret.TypeToken, Value: secret.Value{Token: first}, AllowedHosts: []string{"API.weather.com", "*.Twilio.com"}, Actor: "alice"})
	if created.Alias != "weather_fx" || created.Version != 1 {
		t.Fatalf("created alias %q version %d, want weather_fx 1", created.Alias, created.Version)
	}

	second := vals.new(t)
	res, err := s.Rotate(t.Context(), tn, "WEATHER_fx", secret.RotateInput{Value: secret.Value{Token: second}, Actor: "bob"})
	vals.check(t, err)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if res.Prior.Version != created.Version || res.Prior.Type != secret.TypeToken {
		t.Fatalf("rotate's prior: version %d type %s, want %d token", res.Prior.Version, res.Prior.Type, created.Version)
	}
	rotated := res.Current
	if rotated.Alias != "weather_fx" || rotated.Type != secret.TypeToken {
		t.Fatalf("rotated alias %q type %s, want weather_fx token", rotated.Alias, rotated.Type)
	}
	if rotated.Version != created.Version+1 {
		t.Fatalf("version %d after rotate, want %d", rotated.Version, created.Version+1)
	}
	if !rotated.UpdatedAt.After(created.UpdatedAt) {
		t.Fatalf("updated_at %s after rotate, not after %s", rotated.UpdatedAt, created.UpdatedAt)
	}
	if !rotated.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("created_at changed on rotate: %s -> %s", created.CreatedAt, rotated.CreatedAt)
	}
	got, err := s.Get(t.Context(), tn, "weather_fx")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Version != rotated.Version || !got.UpdatedAt.Equal(rotated.UpdatedAt) || got.Type != secret.TypeToken {
		t.Fatalf("Get after rotate = %+v, want version %d updated %s", got, rotated.Version, rotated.UpdatedAt)
	}
	// allowed_hosts nil keeps the list.
	if want := []string{"api.weather.com", "*.twilio.com"}; strings.Join(got.AllowedHosts, ",") != strings.Join(want, ",") {
		t.Fatalf("allowed_hosts after rotate = %v, want %v", got.AllowedHosts, want)
	}
	mustReadToken(t, reader, tn, "weather_fx", second)

	// Another type is refused and changes nothing.
	_, err = s.Rotate(t.Context(), tn, "weather_fx", secret.RotateInput{Type: secret.TypeUsernamePassword, Value: secret.Value{Username: "u", Password: vals.new(t)}})
	vals.check(t, err)
	if !errors.Is(err, secret.ErrTypeLocked) {
		t.Fatalf("rotate to another type: %v, want ErrTypeLocked", err)
	}
	// A value of another type's shape is a validation error.
	_, err = s.Rotate(t.Context(), tn, "weather_fx", secret.RotateInput{Value: secret.Value{Password: vals.new(t)}})
	vals.check(t, err)
	var verr *secret.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("rotate with a password for a token: %v, want a validation error", err)
	}
	// Setting allowed_hosts replaces them.
	empty := []string{}
	third := vals.new(t)
	res3, err := s.Rotate(t.Context(), tn, "weather_fx", secret.RotateInput{Type: secret.TypeToken, Value: secret.Value{Token: third}, AllowedHosts: &empty})
	if err != nil {
		t.Fatalf("Rotate with hosts: %v", err)
	}
	r3 := res3.Current
	if r3.Version != rotated.Version+1 || len(r3.AllowedHosts) != 0 {
		t.Fatalf("third rotate: version %d hosts %v, want %d and none", r3.Version, r3.AllowedHosts, rotated.Version+1)
	}
	sec, err := reader.Read(t.Context(), tn, "weather_fx")
	if err != nil || len(sec.AllowedHosts) != 0 || sec.Value.Token != third {
		t.Fatalf("Read after third rotate: err %v, %d hosts, token of %d bytes", err, len(sec.AllowedHosts), len(sec.Value.Token))
	}

	if _, err := s.Rotate(t.Context(), tn, "missing", secret.RotateInput{Value: secret.Value{Token: vals.new(t)}}); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("rotate of an unknown alias: %v, want ErrNotFound", err)
	}
}

func TestRotateConcurrentWritersAllLand(t *testing.T) {
	s, tn := stAdmin(t, vaulttest.Shared(t)), stTenant(t)
	var vals stValues
	createToken(t, s, tn, "a", vals.new(t))

	// Concurrent rotations either land (each on a version of its own) or
	// report ErrConflict after their retries; none is lost silently.
	const n = 4
	versions := make([]int, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		res, err := s.Rotate(t.Context(), tn, "a", secret.RotateInput{Value: secret.Value{Token: vals.new(t)}})
		versions[i], errs[i] = res.Current.Version, err
	})
	landed := map[int]bool{}
	for i, err := range errs {
		vals.check(t, err)
		switch {
		case err == nil:
			if landed[versions[i]] {
				t.Fatalf("two rotations report version %d", versions[i])
			}
			landed[versions[i]] = true
		case errors.Is(err, secret.ErrConflict):
		default:
			t.Fatalf("rotate %d: %v", i, err)
		}
	}
	md, err := s.Get(t.Context(), tn, "a")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if md.Version != 1+len(landed) {
		t.Fatalf("version %d after %d landed rotations, want %d", md.Version, len(landed), 1+len(landed))
	}
}

func TestArchive(t *testing.T) {
	srv := vaulttest.Shared(t)
	s, reader, tn := stStores(t, srv)
	var vals stValues

	createToken(t, s, tn, "keep", vals.new(t))
	old := mustCreate(t, s, tn, secret.CreateInput{Alias: "gone", Type: secret.TypeToken, Value: secret.Value{Token: vals.new(t)}})
	prior, err := s.Archive(t.Context(), tn, "GONE", "carol")
	if err != nil {
		t.Fatalf("Archive: %v", err)
	}
	if prior.Alias != "gone" || prior.Version != old.Version || prior.Type != secret.TypeToken {
		t.Fatalf("Archive returned %s v%d %s, want the archived gone v%d token", prior.Alias, prior.Version, prior.Type, old.Version)
	}

	list, err := s.List(t.Context(), tn)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || list[0].Alias != "keep" {
		t.Fatalf("List after archive = %v, want only keep", aliases(list))
	}
	if _, err := reader.Read(t.Context(), tn, "gone"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("Read of an archived secret: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(t.Context(), tn, "gone"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("Get of an archived secret: %v, want ErrNotFound", err)
	}
	if _, err := s.Archive(t.Context(), tn, "gone", "carol"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("second Archive: %v, want ErrNotFound", err)
	}
	if _, err := s.Rotate(t.Context(), tn, "gone", secret.RotateInput{Value: secret.Value{Token: vals.new(t)}}); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("Rotate of an archived secret: %v, want ErrNotFound", err)
	}

	// Who and when are recorded; nothing is destroyed.
	meta, err := srv.Client(t).KVv2("secret").GetMetadata(t.Context(), "sidekey/"+secretRel(tn, "gone"))
	if err != nil {
		t.Fatalf("read metadata as root: %v", err)
	}
	if meta.CustomMetadata[metaArchivedBy] != "carol" || toTime(meta.CustomMetadata[metaArchivedAt]).IsZero() {
		t.Fatalf("archive metadata by=%q at=%q, want carol and a time", meta.CustomMetadata[metaArchivedBy], meta.CustomMetadata[metaArchivedAt])
	}
	if v := meta.Versions["1"]; v.Destroyed || v.DeletionTime.IsZero() {
		t.Fatalf("archived version: destroyed=%v deleted=%s, want soft-deleted only", v.Destroyed, v.DeletionTime)
	}

	// Re-create works, with another type.
	pw := vals.new(t)
	md := mustCreate(t, s, tn, secret.CreateInput{Alias: "gone", Type: secret.TypeUsernamePassword, Value: secret.Value{Username: "svc", Password: pw}, Actor: "dave"})
	if md.Version != old.Version+1 || md.Type != secret.TypeUsernamePassword {
		t.Fatalf("re-created version %d type %s, want %d username_password", md.Version, md.Type, old.Version+1)
	}
	if !md.CreatedAt.After(old.CreatedAt) {
		t.Fatalf("re-created created_at %s not after the first creation %s", md.CreatedAt, old.CreatedAt)
	}
	got, err := reader.Read(t.Context(), tn, "gone")
	if err != nil || got.Type != secret.TypeUsernamePassword || got.Value.Username != "svc" || got.Value.Password != pw {
		t.Fatalf("Read re-created: err %v type %s password of %d bytes", err, got.Type, len(got.Value.Password))
	}
	g, err := s.Get(t.Context(), tn, "gone")
	if err != nil || g.Type != secret.TypeUsernamePassword {
		t.Fatalf("Get re-created: %v type %s", err, g.Type)
	}
	list, _ = s.List(t.Context(), tn)
	if strings.Join(aliases(list), ",") != "gone,keep" {
		t.Fatalf("List after re-create = %v, want [gone keep]", aliases(list))
	}
}

func aliases(list []secret.Metadata) []string {
	out := make([]string, len(list))
	for i, m := range list {
		out[i] = m.Alias
	}
	return out
}

func TestCrossTenantIsolation(t *testing.T) {
	s, reader, base := stStores(t, vaulttest.Shared(t))
	ax := secret.Tenant{Org: base.Org + "a", Domain: "x"}
	ay := secret.Tenant{Org: base.Org + "a", Domain: "y"}
	bx := secret.Tenant{Org: base.Org + "b", Domain: "x"}
	var vals stValues

	want := map[secret.Tenant]string{}
	for _, tn := range []secret.Tenant{ax, ay, bx} {
		want[tn] = vals.new(t)
		createToken(t, s, tn, "shared", want[tn])
	}
	createToken(t, s, ax, "only_ax", vals.new(t))

	for tn, val := range want {
		mustReadToken(t, reader, tn, "shared", val)
	}
	for _, tn := range []secret.Tenant{ay, bx} {
		if _, err := reader.Read(t.Context(), tn, "only_ax"); !errors.Is(err, secret.ErrNotFound) {
			t.Fatalf("Read only_ax as %s: %v, want ErrNotFound", tn, err)
		}
		list, err := s.List(t.Context(), tn)
		if err != nil {
			t.Fatalf("List %s: %v", tn, err)
		}
		if strings.Join(aliases(list), ",") != "shared" {
			t.Fatalf("List %s = %v, want only shared", tn, aliases(list))
		}
	}
	list, _ := s.List(t.Context(), ax)
	if strings.Join(aliases(list), ",") != "only_ax,shared" {
		t.Fatalf("List %s = %v, want [only_ax shared]", ax, aliases(list))
	}
	// Ids that would escape the tenant's directory are refused.
	for _, tn := range []secret.Tenant{{Org: "..", Domain: "x"}, {Org: ax.Org, Domain: "x/../y"}} {
		if _, err := reader.Read(t.Context(), tn, "shared"); err == nil || errors.Is(err, secret.ErrNotFound) {
			t.Fatalf("Read with tenant %q: %v, want a validation error", tn, err)
		}
	}
}

func TestTypesAndJSON(t *testing.T) {
	s, reader, tn := stStores(t, vaulttest.Shared(t))
	var vals stValues
	pw := vals.new(t)
	obj := `{ "zeta": {"k": [1, 2]}, "alpha": "` + vals.new(t) + `", "n": 1.50 }`

	mustCreate(t, s, tn, secret.CreateInput{Alias: "up", Type: secret.TypeUsernamePassword, Value: secret.Value{Username: "svc", Password: pw}})
	md := mustCreate(t, s, tn, secret.CreateInput{Alias: "cfg", Type: secret.TypeJSON, Value: secret.Value{JSON: []byte(obj)}})
	if strings.Join(md.JSONKeys, ",") != "zeta,alpha,n" {
		t.Fatalf("json keys = %v, want [zeta alpha n] in document order", md.JSONKeys)
	}
	got, err := s.Get(t.Context(), tn, "cfg")
	if err != nil || strings.Join(got.JSONKeys, ",") != "zeta,alpha,n" || got.Type != secret.TypeJSON {
		t.Fatalf("Get cfg: %v keys %v type %s", err, got.JSONKeys, got.Type)
	}
	sec, err := reader.Read(t.Context(), tn, "cfg")
	if err != nil {
		t.Fatalf("Read cfg: %v", err)
	}
	compact, _ := secret.CompactObject([]byte(obj))
	if string(sec.Value.JSON) != string(compact) {
		t.Fatalf("json value of %d bytes, want the compact object of %d bytes (order and numbers kept)", len(sec.Value.JSON), len(compact))
	}
	up, err := reader.Read(t.Context(), tn, "up")
	if err != nil || up.Value.Username != "svc" || up.Value.Password != pw {
		t.Fatalf("Read up: %v, password of %d bytes", err, len(up.Value.Password))
	}

	// Many hosts and keys are split over several metadata values.
	hosts := make([]string, 120)
	keys := make([]string, 200)
	var b strings.Builder
	b.WriteString("{")
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%03d.example.com", i)
	}
	for i := range keys {
		keys[i] = fmt.Sprintf("schlüssel_%03d", i)
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q:%d", keys[i], i)
	}
	b.WriteString("}")
	mustCreate(t, s, tn, secret.CreateInput{Alias: "big", Type: secret.TypeJSON, Value: secret.Value{JSON: []byte(b.String())}, AllowedHosts: hosts})
	big, err := s.Get(t.Context(), tn, "big")
	if err != nil {
		t.Fatalf("Get big: %v", err)
	}
	if strings.Join(big.AllowedHosts, ",") != strings.Join(hosts, ",") || strings.Join(big.JSONKeys, ",") != strings.Join(keys, ",") {
		t.Fatalf("Get big: %d hosts and %d keys, want %d and %d", len(big.AllowedHosts), len(big.JSONKeys), len(hosts), len(keys))
	}
}

func TestValidationBeforeVault(t *testing.T) {
	s, tn := stAdmin(t, vaulttest.Shared(t)), stTenant(t)
	var vals stValues
	tooMany := make([]string, 600)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("host%03d.example.com", i)
	}
	cases := []struct {
		name  string
		tn    secret.Tenant
		in    secret.CreateInput
		field string
	}{
		{"alias", tn, secret.CreateInput{Alias: "bad alias", Type: secret.TypeToken, Value: secret.Value{Token: vals.new(t)}}, "alias"},
		{"empty token", tn, secret.CreateInput{Alias: "a", Type: secret.TypeToken}, "value.token"},
		{"json array", tn, secret.CreateInput{Alias: "a", Type: secret.TypeJSON, Value: secret.Value{JSON: []byte(`["` + vals.new(t) + `"]`)}}, "value.json"},
		{"type", tn, secret.CreateInput{Alias: "a", Type: "password", Value: secret.Value{Token: vals.new(t)}}, "type"},
		{"host", tn, secret.CreateInput{Alias: "a", Type: secret.TypeToken, Value: secret.Value{Token: vals.new(t)}, AllowedHosts: []string{"https://x.com/"}}, "allowed_hosts[0]"},
		{"too many hosts", tn, secret.CreateInput{Alias: "a", Type: secret.TypeToken, Value: secret.Value{Token: vals.new(t)}, AllowedHosts: tooMany}, "allowed_hosts"},
		{"tenant", secret.Tenant{Org: "Org", Domain: "d"}, secret.CreateInput{Alias: "a", Type: secret.TypeToken, Value: secret.Value{Token: vals.new(t)}}, "tenant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Create(t.Context(), tc.tn, tc.in)
			vals.check(t, err)
			var verr *secret.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Create: %v, want a validation error", err)
			}
			if !slices.ContainsFunc(verr.Fields, func(f secret.FieldError) bool { return f.Field == tc.field }) {
				t.Fatalf("validation fields %+v, want one for %s", verr.Fields, tc.field)
			}
		})
	}
	if list, err := s.List(t.Context(), tn); err != nil || len(list) != 0 {
		t.Fatalf("List after refused creates: %v %v, want empty", aliases(list), err)
	}
}

// TestPolicies runs each component with a token of exactly its policy from
// deploy/vault.
func TestPolicies(t *testing.T) {
	srv := vaulttest.Shared(t)
	adminToken, sidecarToken := srv.AdminToken(t), srv.SidecarToken(t)
	admin := stStore(t, srv, stToken(adminToken))
	sidecar := stStore(t, srv, stToken(sidecarToken))
	tn := stTenant(t)
	var vals stValues
	val := vals.new(t)
	createToken(t, admin, tn, "a", val)
	if _, err := admin.Rotate(t.Context(), tn, "a", secret.RotateInput{Value: secret.Value{Token: val}}); err != nil {
		t.Fatalf("admin rotate: %v", err)
	}
	if _, err := admin.List(t.Context(), tn); err != nil {
		t.Fatalf("admin list: %v", err)
	}

	// The sidecar reads values …
	mustReadToken(t, sidecar, tn, "a", val)
	// … and nothing else.
	denied := map[string]error{}
	_, denied["sidecar create"] = sidecar.Create(t.Context(), tn, secret.CreateInput{Alias: "b", Type: secret.TypeToken, Value: secret.Value{Token: vals.new(t)}})
	_, denied["sidecar rotate"] = sidecar.Rotate(t.Context(), tn, "a", secret.RotateInput{Value: secret.Value{Token: vals.new(t)}})
	_, denied["sidecar archive"] = sidecar.Archive(t.Context(), tn, "a", "x")
	_, denied["sidecar list"] = sidecar.List(t.Context(), tn)
	_, denied["sidecar get"] = sidecar.Get(t.Context(), tn, "a")
	_, denied["sidecar write data"] = sidecar.kvWrite(t.Context(), secretRel(tn, "a"), map[string]any{"type": "token", "token": "x"}, -1)
	denied["sidecar delete"] = sidecar.kvDelete(t.Context(), secretRel(tn, "a"))
	_, denied["sidecar write feed"] = sidecar.kvWrite(t.Context(), "changes", map[string]any{"seq": 1}, -1)
	// The admin API never reads a value back.
	_, denied["admin read value"] = admin.Read(t.Context(), tn, "a")
	for name, err := range denied {
		vals.check(t, err)
		if !errors.Is(err, secret.ErrPermission) {
			t.Errorf("%s: %v, want ErrPermission", name, err)
		}
	}

	// Raw calls: the admin cannot hard-destroy, the sidecar cannot list.
	path := "secret/%s/sidekey/" + secretRel(tn, "a")
	adminC, sidecarC := srv.ClientWithToken(t, adminToken).Logical(), srv.ClientWithToken(t, sidecarToken).Logical()
	ctx := t.Context()
	raw := map[string]func() error{
		"admin destroy": func() error {
			_, err := adminC.WriteWithContext(ctx, fmt.Sprintf(path, "destroy"), map[string]any{"versions": []int{1}})
			return err
		},
		"admin delete metadata": func() error { _, err := adminC.DeleteWithContext(ctx, fmt.Sprintf(path, "metadata")); return err },
		"admin undelete": func() error {
			_, err := adminC.WriteWithContext(ctx, fmt.Sprintf(path, "undelete"), map[string]any{"versions": []int{1}})
			return err
		},
		"admin read data": func() error { _, err := adminC.ReadWithContext(ctx, fmt.Sprintf(path, "data")); return err },
		"admin write outside prefix": func() error {
			_, err := adminC.WriteWithContext(ctx, "secret/data/other", map[string]any{"data": map[string]any{"k": "v"}})
			return err
		},
		"sidecar list": func() error {
			_, err := sidecarC.ListWithContext(ctx, "secret/metadata/sidekey/"+tenantRel(tn))
			return err
		},
		"sidecar read metadata":       func() error { _, err := sidecarC.ReadWithContext(ctx, fmt.Sprintf(path, "metadata")); return err },
		"sidecar read outside prefix": func() error { _, err := sidecarC.ReadWithContext(ctx, "secret/data/other"); return err },
	}
	for name, call := range raw {
		var re *api.ResponseError
		if err := call(); !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %v, want 403", name, err)
		}
	}
	// Nothing was destroyed: the value is still there.
	mustReadToken(t, sidecar, tn, "a", val)
}

func TestShortTTLTokenKeepsWorking(t *testing.T) {
	t.Parallel() // waits on real time; overlaps with the others
	srv := vaulttest.Shared(t)
	// Long enough that a busy machine renews in time (the watcher renews
	// at about two thirds of the TTL), short enough for a quick test.
	const ttl = 4 * time.Second
	var vals stValues
	tn, val := stSeed(t, srv, &vals)

	token := srv.TokenTTL(t, ttl, srv.SidecarPolicy(t))
	s := stStore(t, srv, stToken(token))
	stRun(t, s)
	// Read across three TTLs; without renewal the token would be gone after the first.
	end := time.Now().Add(3 * ttl)
	for time.Now().Before(end) {
		mustReadToken(t, s, tn, "a", val)
		time.Sleep(250 * time.Millisecond)
	}
	if got := s.currentToken().ClientToken; got != token {
		t.Fatal("the store replaced a static token; it should have renewed it")
	}
	self, err := srv.ClientWithToken(t, token).Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("token expired despite renewal: %v", err)
	}
	if issued, _ := self.Data["issue_time"].(string); time.Since(toTime(issued)) < 3*ttl {
		t.Fatalf("token issued %s, less than %s ago", issued, 3*ttl)
	}
}

func TestRevokedTokenLeadsToReLogin(t *testing.T) {
	t.Parallel() // waits on real time; overlaps with the others
	srv := vaulttest.Shared(t)
	roleID, secretID := srv.AppRole(t, srv.SidecarPolicy(t))
	var vals stValues
	tn, val := stSeed(t, srv, &vals)

	s := stStore(t, srv, AuthConfig{Method: MethodAppRole, RoleID: roleID, SecretID: secretID})
	stRun(t, s)
	mustReadToken(t, s, tn, "a", val)
	first := s.currentToken().ClientToken

	time.Sleep(minRelogin) // re-logins are spaced by minRelogin
	srv.RevokeToken(t, first)
	mustReadToken(t, s, tn, "a", val)
	if s.currentToken().ClientToken == first {
		t.Fatal("still the revoked token after a successful read")
	}
}

func TestAppRoleTokenPastMaxTTL(t *testing.T) {
	t.Parallel() // waits on real time; overlaps with the others
	srv := vaulttest.Shared(t)
	// Tokens live 1s, renewable up to 10s: the store must log in again.
	roleID, secretID := srv.AppRoleTTL(t, srv.SidecarPolicy(t), time.Second)
	s := stStore(t, srv, AuthConfig{Method: MethodAppRole, RoleID: roleID, SecretID: secretID})
	first := s.currentToken().ClientToken
	stRun(t, s)
	deadline := time.Now().Add(30 * time.Second)
	for s.currentToken().ClientToken == first {
		if time.Now().After(deadline) {
			t.Fatal("no new login 30s after the token's max TTL of 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping with the new token: %v", err)
	}
}

func TestLoginFailures(t *testing.T) {
	srv := vaulttest.Shared(t)
	roleID, _ := srv.AppRole(t, srv.SidecarPolicy(t))
	cases := []struct {
		name string
		auth AuthConfig
		want error
	}{
		{"revoked token", stToken("hvs.nope"), secret.ErrPermission},
		{"wrong secret id", AuthConfig{Method: MethodAppRole, RoleID: roleID, SecretID: "00000000-0000-0000-0000-000000000000"}, secret.ErrPermission},
		{"unknown method", AuthConfig{Method: "ldap"}, nil},
		{"kubernetes without role", AuthConfig{Method: MethodKubernetes}, nil},
		{"kubernetes token file missing", AuthConfig{Method: MethodKubernetes, Role: "r", JWTFile: "/nonexistent/token"}, nil},
		{"token file missing", AuthConfig{TokenFile: "/nonexistent/token"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openStore(t.Context(), Config{Address: srv.Addr, Auth: tc.auth, Timeout: 5 * time.Second})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
			// A local mistake is reported as such, not as an outage.
			if errors.Is(err, secret.ErrUnavailable) {
				t.Fatalf("New: %v, want a configuration error, not ErrUnavailable", err)
			}
		})
	}
}

func TestUnavailableWithinDeadlineAndRecovery(t *testing.T) {
	t.Parallel() // waits on real time; overlaps with the others
	srv := vaulttest.Start(t)
	s := stAdmin(t, srv)
	reader := stOpen(t, srv.Addr, stToken(srv.SidecarToken(t)), time.Second)
	var vals stValues
	tn, val := stSeed(t, srv, &vals)

	srv.Kill(t)
	const deadline = 500 * time.Millisecond
	for name, op := range map[string]func(ctx context.Context) error{
		"read": func(ctx context.Context) error { _, err := reader.Read(ctx, tn, "a"); return err },
		"list": func(ctx context.Context) error { _, err := s.List(ctx, tn); return err },
		"create": func(ctx context.Context) error {
			_, err := s.Create(ctx, tn, secret.CreateInput{Alias: "b", Type: secret.TypeToken, Value: secret.Value{Token: vals.new(t)}})
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		began := time.Now()
		err := op(ctx)
		took := time.Since(began)
		cancel()
		vals.check(t, err)
		if !errors.Is(err, secret.ErrUnavailable) {
			t.Fatalf("%s with Vault down: %v, want ErrUnavailable", name, err)
		}
		// Bounded by the caller's deadline (plus scheduling slack), not by
		// the client's own timeouts.
		if took > deadline+5*time.Second {
			t.Fatalf("%s with Vault down took %s with a deadline of %s", name, took, deadline)
		}
	}
	// Without a deadline, Config.Timeout (1s here) bounds the call.
	if _, err := reader.Read(context.Background(), tn, "a"); !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("read without deadline, Vault down: %v, want ErrUnavailable", err)
	}

	// Vault comes back (same data): the same stores work again.
	srv.Restart(t)
	mustReadToken(t, reader, tn, "a", val)
	if _, err := s.Create(t.Context(), tn, secret.CreateInput{Alias: "b", Type: secret.TypeToken, Value: secret.Value{Token: vals.new(t)}}); err != nil {
		t.Fatalf("create after restart: %v", err)
	}

	// Retries span a short outage within the deadline: a read started
	// while Vault is down succeeds once it is back.
	srv.Stop(t)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, err := reader.Read(ctx, tn, "a")
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	srv.Restart(t)
	if err := <-done; err != nil {
		t.Fatalf("read across a restart: %v", err)
	}
}

func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := openStore(ctx, Config{Address: vaulttest.FreeAddr(t), Auth: stToken("t")})
	if !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("New against a closed port: %v, want ErrUnavailable", err)
	}
}

func TestRunWithoutRenewableTokenStops(t *testing.T) {
	srv := vaulttest.Shared(t)
	s := stStore(t, srv, stToken(srv.RootToken)) // root: no TTL, nothing to renew
	stop := goRun(t, s.Run)
	stop()
}

func TestChunkedMetadataRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a", strings.Repeat("x", 512), strings.Repeat("x", 513), strings.Repeat("ü", 700), strings.Repeat("ab€", 400)} {
		m := map[string]string{}
		putChunked(m, "k", s, 16)
		for k, v := range m {
			if len(v) > metaValueMax {
				t.Fatalf("%s holds %d bytes, more than %d", k, len(v), metaValueMax)
			}
			if !strings.HasPrefix(k, "k") {
				t.Fatalf("unexpected key %s", k)
			}
		}
		if got := getChunked(m, "k"); got != s {
			t.Fatalf("round trip of %d bytes gave %d bytes", len(s), len(got))
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{Prefix: "/team/sidekey/"}.withDefaults()
	if err != nil || cfg.Mount != DefaultMount || cfg.Prefix != "team/sidekey" || cfg.Timeout != DefaultTimeout {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	for _, bad := range []Config{{Mount: "a b"}, {Prefix: "x/../y"}, {Prefix: "x//y"}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Fatalf("config %+v accepted", bad)
		}
	}
}

func TestReadRefusesForeignEntries(t *testing.T) {
	srv := vaulttest.Shared(t)
	reader, tn := stSidecar(t, srv), stTenant(t)
	var vals stValues
	kv := srv.Client(t).KVv2("secret")
	entries := map[string]map[string]any{
		"no_type":     {"token": vals.new(t)},
		"bad_type":    {"type": "password", "token": vals.new(t)},
		"empty_token": {"type": "token", "token": ""},
		"bad_json":    {"type": "json", "json": "{" + vals.new(t)},
	}
	for alias, data := range entries {
		if _, err := kv.Put(t.Context(), "sidekey/"+secretRel(tn, alias), data); err != nil {
			t.Fatalf("put %s: %v", alias, err)
		}
	}
	for alias := range entries {
		_, err := reader.Read(t.Context(), tn, alias)
		vals.check(t, err)
		if !errors.Is(err, errMalformed) {
			t.Errorf("Read %s: %v, want errMalformed", alias, err)
		}
	}
}

func TestSealedIsUnavailable(t *testing.T) {
	t.Parallel() // waits on real time; overlaps with the others
	srv := vaulttest.Start(t)
	reader := stSidecar(t, srv)
	var vals stValues
	tn, val := stSeed(t, srv, &vals)

	if err := srv.Client(t).Sys().Seal(); err != nil {
		t.Fatalf("seal: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := reader.Read(ctx, tn, "a")
	vals.check(t, err)
	if !errors.Is(err, secret.ErrUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Read from a sealed Vault: %v, want ErrUnavailable after 503s", err)
	}
	// vaultdev unseals itself when it starts on its data again.
	srv.Restart(t)
	mustReadToken(t, reader, tn, "a", val)
}

func TestCallerCancelIsNotAnOutage(t *testing.T) {
	srv := vaulttest.Shared(t)
	reader := stSidecar(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := reader.Read(ctx, stTenant(t), "a")
	if !errors.Is(err, context.Canceled) || errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("Read with a cancelled context: %v, want context.Canceled and not ErrUnavailable", err)
	}
}
