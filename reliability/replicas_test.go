package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/sidekey/sidekey/internal/testbin"
	"github.com/sidekey/sidekey/vaultstore"
)

// adminProc is a running `sidekey admin`.
type adminProc struct {
	*testbin.Proc
	addr, metrics string
}

func (e *env) startAdmin(name, jwtKey string) *adminProc {
	t := e.t
	t.Helper()
	tok := testbin.WriteFile(t, e.dir, name+".vault-token", e.vault.AdminToken(t))
	a := &adminProc{addr: testbin.FreeHostPort(t), metrics: testbin.FreeHostPort(t)}
	a.Proc = daemon(t, name, "admin", "--log-level", "warn", "--listen", a.addr, "--metrics-listen", a.metrics,
		"--jwt-hs256-key-file", jwtKey, "--vault-addr", e.vault.Addr, "--vault-token-file", tok)
	testbin.WaitOK(t, "http://"+a.metrics+"/readyz")
	return a
}

// call makes one admin API request and decodes a JSON answer into out.
func (a *adminProc) call(bearer, method, path string, body any, out any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+a.addr+"/v1/orgs/"+tenant.Org+"/domains/"+tenant.Domain+path, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &eb)
		return resp.StatusCode, eb.Error.Code, nil
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, "", fmt.Errorf("decode answer: %w", err)
		}
	}
	return resp.StatusCode, "", nil
}

// rotation is one successful rotation as the admin API reported it.
type rotation struct {
	alias   string
	version int
	value   string
	replica string
}

// TestAdminReplicas runs two `sidekey admin` processes on one Vault and
// rotates the same secrets through both at once, while two sidecars serve
// them. No update is lost (every successful rotation has a version of its
// own, and the stored value is the successful write of the highest
// version), the change feed stays a gap-free sequence that grew by one per
// write, and both sidecars converge to the final values.
func TestAdminReplicas(t *testing.T) {
	const aliases = 3
	// Short: one writer per replica. Full: three per replica, which
	// stresses the change feed's check-and-set appends.
	perWorker, workersPerReplica := 10, 1
	if chaosFull() {
		perWorker, workersPerReplica = 100, 3
	}
	e := newEnv(t)
	jwtKey := testbin.WriteFile(t, e.dir, "jwt.key", testbin.RandomString(t, "jwt-key-")+"\n")
	replicas := []*adminProc{e.startAdmin("admin-a", jwtKey), e.startAdmin("admin-b", jwtKey)}
	bearer := testbin.Run(t, sidekeyBin, "token", "admin", "--key-file", jwtKey, "--role", "org_admin", "--org", tenant.Org, "--sub", "reliability", "--ttl", "1h")

	names := make([]string, aliases)
	for i := range names {
		names[i] = fmt.Sprintf("rot_%d", i)
		status, code, err := replicas[i%2].call(bearer, http.MethodPost, "/secrets", map[string]any{
			"alias": names[i], "type": "token", "value": map[string]any{"token": testbin.RandomString(t, "initial-")},
		}, nil)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("create %s: %d %s %v", names[i], status, code, err)
		}
	}
	root := e.vault.Client(t)
	feedBefore := readFeed(t, root)

	// The sidecars' view: the upstream records the last value each one
	// injected per alias.
	var (
		seenMu sync.Mutex
		seen   = map[string]string{} // "/proxy/alias" → value
	)
	up := e.newUpstream(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		seenMu.Lock()
		seen[r.URL.Path] = r.Header.Get("X-Api-Key")
		seenMu.Unlock()
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	proxies := []*proxyProc{e.startProxy("proxy-1", 4), e.startProxy("proxy-2", 4)}
	send := func(p *proxyProc, alias string) outcome {
		req, err := http.NewRequest(http.MethodGet, up.URL()+"/"+p.Name+"/"+alias, nil)
		if err != nil {
			return outcome{err: err}
		}
		req.Header.Set("X-Api-Key", "{{secrets."+alias+"}}")
		return p.do(req)
	}
	var bgs []*traffic
	for i, p := range proxies {
		bgs = append(bgs, startTraffic(1, 20*time.Millisecond, 10*time.Minute, 1_000_000, func() outcome {
			return send(p, names[int(time.Now().UnixNano()/int64(time.Millisecond)+int64(i))%aliases])
		}))
	}

	var (
		mu       sync.Mutex
		oks      []rotation
		failures = map[string]int{}
		wg       sync.WaitGroup
	)
	for r, a := range replicas {
		for w := range workersPerReplica {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					alias := names[(i+w+r)%aliases]
					v := fmt.Sprintf("rot-%d-%d-%d-%s", r, w, i, testbin.RandomString(t, ""))
					var out struct {
						Version int `json:"version"`
					}
					status, code, err := a.call(bearer, http.MethodPut, "/secrets/"+alias, map[string]any{"value": map[string]any{"token": v}}, &out)
					mu.Lock()
					switch {
					case err != nil:
						failures["error: "+err.Error()]++
					case status == http.StatusOK:
						oks = append(oks, rotation{alias: alias, version: out.Version, value: v, replica: a.Name})
					default:
						failures[fmt.Sprintf("%d %s", status, code)]++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	rotatedAt := time.Now()
	t.Logf("%d rotations succeeded; failures: %s", len(oks), describeTally(failures))
	if len(oks) == 0 {
		t.Fatal("no rotation succeeded")
	}
	for k := range failures {
		if !strings.HasPrefix(k, "409 ") && !strings.HasPrefix(k, "503 ") {
			t.Errorf("rotation failure %q: only a conflict or an unavailable store may refuse a rotation", k)
		}
	}

	// No lost update.
	vcfg := vaultstore.Config{
		Address: e.vault.Addr, Auth: vaultstore.AuthConfig{Token: e.vault.RootToken}, Timeout: 10 * time.Second,
	}
	store, err := vaultstore.NewWriter(context.Background(), vcfg)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := vaultstore.NewReader(context.Background(), vcfg)
	if err != nil {
		t.Fatal(err)
	}
	final := map[string]string{}
	for _, alias := range names {
		byVersion := map[int]rotation{}
		top := rotation{}
		for _, o := range oks {
			if o.alias != alias {
				continue
			}
			if prev, dup := byVersion[o.version]; dup {
				t.Errorf("%s: version %d reported for two rotations (%s and %s): an update was lost", alias, o.version, prev.replica, o.replica)
			}
			byVersion[o.version] = o
			if o.version > top.version {
				top = o
			}
		}
		meta, err := store.Get(context.Background(), tenant, alias)
		if err != nil {
			t.Fatalf("get %s: %v", alias, err)
		}
		sec, err := reader.Read(context.Background(), tenant, alias)
		if err != nil {
			t.Fatalf("read %s: %v", alias, err)
		}
		if top.version == 0 {
			continue // no successful rotation of this alias
		}
		if meta.Version != top.version {
			t.Errorf("%s: stored version %d, highest successful rotation %d", alias, meta.Version, top.version)
		}
		if sec.Value.Token != top.value {
			t.Errorf("%s: stored value %s is not the last successful write (%s)", alias, testbin.Fingerprint(sec.Value.Token), testbin.Fingerprint(top.value))
		}
		// Every version after the first is a successful rotation: none
		// was written and then reported as failed.
		if len(byVersion) != meta.Version-1 {
			t.Errorf("%s: %d successful rotations, but the secret went from version 1 to %d", alias, len(byVersion), meta.Version)
		}
		final[alias] = sec.Value.Token
	}

	// The feed: a gap-free sequence that grew by one per rotation.
	feedAfter := readFeed(t, root)
	if grew := feedAfter.Seq - feedBefore.Seq; grew != uint64(len(oks)) {
		t.Errorf("the change feed grew by %d entries for %d successful rotations", grew, len(oks))
	}
	for i := 1; i < len(feedAfter.Entries); i++ {
		if a, b := feedAfter.Entries[i-1].Seq, feedAfter.Entries[i].Seq; b != a+1 {
			t.Errorf("change feed entries %d and %d have sequences %d and %d", i-1, i, a, b)
		}
	}
	if n := len(feedAfter.Entries); n > 0 && feedAfter.Entries[n-1].Seq != feedAfter.Seq {
		t.Errorf("the newest feed entry has sequence %d, the feed says %d", feedAfter.Entries[n-1].Seq, feedAfter.Seq)
	}

	// Every sidecar converges to the final values.
	var slowest time.Duration
	for _, p := range proxies {
		for _, alias := range names {
			if final[alias] == "" {
				continue
			}
			path := "/" + p.Name + "/" + alias
			deadline := rotatedAt.Add(30 * time.Second)
			for {
				if o := send(p, alias); o.status != http.StatusOK {
					t.Fatalf("%s %s after the rotations: %s", p.Name, alias, o)
				}
				seenMu.Lock()
				got := seen[path]
				seenMu.Unlock()
				if got == final[alias] {
					slowest = max(slowest, time.Since(rotatedAt))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still injects %s for %s 30s after the last rotation, not the final %s", p.Name, testbin.Fingerprint(got), alias, testbin.Fingerprint(final[alias]))
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	t.Logf("both sidecars injected every final value %v after the last rotation returned", slowest.Round(time.Millisecond))
	for _, bg := range bgs {
		bg.stopAllOK(t, "sidecar traffic during the rotations")
	}
	if n := up.Placeholders(); n != 0 {
		t.Errorf("%d placeholders reached the upstream", n)
	}
}

// feed is the change feed document (vaultstore/changes.go), read as an
// operator would, with the root token.
type feed struct {
	Seq     uint64 `json:"seq"`
	Entries []struct {
		Seq    uint64 `json:"seq"`
		Org    string `json:"org"`
		Domain string `json:"domain"`
		Alias  string `json:"alias"`
	} `json:"entries"`
}

func readFeed(t *testing.T, c *api.Client) feed {
	t.Helper()
	kv, err := c.KVv2("secret").Get(context.Background(), "sidekey/changes")
	if err != nil {
		t.Fatalf("read the change feed: %v", err)
	}
	raw, err := json.Marshal(kv.Data)
	if err != nil {
		t.Fatal(err)
	}
	var f feed
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("decode the change feed: %v", err)
	}
	return f
}
