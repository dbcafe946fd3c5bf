package adminapi

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
)

// fakeStore is an in-memory Store for unit tests of the logic around the
// store. The contract suites use the real Vault (vault_test.go).
type fakeStore struct {
	mu     sync.Mutex
	down   bool
	now    time.Time
	items  map[string]*fakeItem // key: org/domain/alias
	writes int
}

type fakeItem struct {
	meta  secret.Metadata
	value secret.Value
}

func newFakeStore() *fakeStore {
	return &fakeStore{items: map[string]*fakeItem{}, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func fakeKey(t secret.Tenant, alias string) string { return t.Org + "/" + t.Domain + "/" + alias }

// check is ErrUnavailable while the store is down; call it with f.mu held.
func (f *fakeStore) check() error {
	if f.down {
		return secret.ErrUnavailable
	}
	return nil
}

// lookup returns the item of alias, or the error the real store gives for
// it; call it with f.mu held.
func (f *fakeStore) lookup(t secret.Tenant, alias string) (*fakeItem, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	it, ok := f.items[fakeKey(t, alias)]
	if !ok {
		return nil, secret.ErrNotFound
	}
	return it, nil
}

func (f *fakeStore) Ping(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.check()
}

func (f *fakeStore) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeStore) List(_ context.Context, t secret.Tenant) ([]secret.Metadata, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	var out []secret.Metadata
	prefix := t.Org + "/" + t.Domain + "/"
	for k, it := range f.items {
		if strings.HasPrefix(k, prefix) {
			out = append(out, it.meta)
		}
	}
	// Unsorted on purpose: the API sorts.
	return out, nil
}

func (f *fakeStore) Get(_ context.Context, t secret.Tenant, alias string) (secret.Metadata, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, err := f.lookup(t, alias)
	if err != nil {
		return secret.Metadata{}, err
	}
	return it.meta, nil
}

func (f *fakeStore) Create(_ context.Context, t secret.Tenant, in secret.Creatable) (secret.Metadata, error) {
	d, err := secret.Validate(in)
	if err != nil {
		return secret.Metadata{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return secret.Metadata{}, err
	}
	k := fakeKey(t, d.Alias())
	if _, ok := f.items[k]; ok {
		return secret.Metadata{}, secret.ErrAliasTaken
	}
	m := secret.Metadata{Alias: d.Alias(), Type: d.Type(), Kind: d.Kind(), AllowedHosts: slices.Clone(d.AllowedHosts()),
		JSONKeys: d.JSONKeys(), CreatedAt: f.now, UpdatedAt: f.now, Version: 1}
	f.items[k] = &fakeItem{meta: m, value: d.Value()}
	f.writes++
	return m, nil
}

func (f *fakeStore) Rotate(_ context.Context, t secret.Tenant, alias string, in secret.RotateInput) (secret.Rotated, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, err := f.lookup(t, alias)
	if err != nil {
		return secret.Rotated{}, err
	}
	out := secret.Rotated{Prior: it.meta}
	if in.Type != "" && in.Type != it.meta.Type {
		return out, secret.ErrTypeLocked
	}
	value, err := secret.ValidateValue(it.meta.Type, in.Value) // as the real store does
	if err != nil {
		return out, err
	}
	it.value = value
	if in.AllowedHosts != nil {
		it.meta.AllowedHosts = slices.Clone(*in.AllowedHosts)
	}
	if it.meta.Type == secret.TypeJSON {
		it.meta.JSONKeys, _ = secret.ObjectKeys(value.JSON)
	}
	it.meta.Version++
	it.meta.UpdatedAt = f.now.Add(time.Minute)
	f.writes++
	out.Current = it.meta
	return out, nil
}

func (f *fakeStore) Archive(_ context.Context, t secret.Tenant, alias, _ string) (secret.Metadata, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, err := f.lookup(t, alias)
	if err != nil {
		return secret.Metadata{}, err
	}
	delete(f.items, fakeKey(t, alias))
	f.writes++
	return it.meta, nil
}

func (f *fakeStore) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

func (f *fakeStore) value(t secret.Tenant, alias string) (secret.Value, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.items[fakeKey(t, alias)]
	if !ok {
		return secret.Value{}, false
	}
	return it.value, true
}
