package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
)

const (
	// rotateAttempts bounds the check-and-set retries of one rotation.
	rotateAttempts = 3
	// listParallel bounds the metadata reads of one List in flight.
	listParallel = 8
)

// Writer writes secrets: Create, Rotate and Archive (each appends to the
// change feed), and List and Get of their metadata. It needs the admin
// policy (docs/vault.md) and never reads a value. Run (from Client) keeps
// its token renewed. It is safe for concurrent use.
type Writer struct {
	*Client
}

// NewWriter connects to Vault and logs in. Call Run to keep the token
// renewed.
func NewWriter(ctx context.Context, cfg Config) (*Writer, error) {
	return connect[Writer](ctx, cfg)
}

// Create stores a new secret (check-and-set create-only): ErrAliasTaken when
// an active secret has the alias; an archived alias is created anew. in is a
// secret.Draft (validated by the caller) or a CreateInput, validated here by
// the same rules (secret.Validate).
func (s *Writer) Create(ctx context.Context, t secret.Tenant, in secret.Creatable) (secret.Metadata, error) {
	d, err := createDraft(t, in)
	if err != nil {
		return secret.Metadata{}, fmt.Errorf("vaultstore: create: %w", err)
	}
	alias, value, hosts, keys := d.Alias(), d.Value(), d.AllowedHosts(), d.JSONKeys()
	typ, kind, actor := d.Type(), d.Kind(), d.Actor()

	rel := secretRel(t, alias)
	// Create-only: the write names the current version, 0 when the alias
	// was never used, or the archived version, so that of concurrent
	// creates exactly one succeeds.
	cas := 0
	meta, err := s.kvReadMetadata(ctx, rel)
	switch {
	case errors.Is(err, secret.ErrNotFound):
	case err != nil:
		return secret.Metadata{}, fmt.Errorf("vaultstore: create %s/%s: %w", t, alias, err)
	case meta.Active:
		return secret.Metadata{}, fmt.Errorf("vaultstore: create %s/%s: %w", t, alias, secret.ErrAliasTaken)
	default:
		cas = meta.CurrentVersion
	}
	version, created, err := s.kvWriteAt(ctx, rel, encodeData(typ, kind, value, hosts), cas)
	if errors.Is(err, secret.ErrConflict) {
		return secret.Metadata{}, fmt.Errorf("vaultstore: create %s/%s: %w", t, alias, secret.ErrAliasTaken)
	}
	if err != nil {
		return secret.Metadata{}, fmt.Errorf("vaultstore: create %s/%s: %w", t, alias, err)
	}
	desc := describe{
		typ: typ, kind: kind, hosts: hosts, jsonKeys: keys, version: version,
		createdAt: created, createdBy: actor, updatedBy: actor,
	}
	if err := s.finishMetadata(ctx, rel, desc.custom()); err != nil {
		// The value is stored; only its description is missing. Report
		// the failure: the caller may not assume a half-written secret.
		return secret.Metadata{}, fmt.Errorf("vaultstore: create %s/%s: stored, but recording its metadata failed: %w", t, alias, err)
	}
	_ = s.recordChange(ctx, t, alias)
	return secret.Metadata{
		Alias: alias, Type: typ, Kind: kind, AllowedHosts: hosts, JSONKeys: keys,
		CreatedAt: created, UpdatedAt: created, Version: version,
	}, nil
}

// createDraft validates the tenant and in (secret.Validate), and checks the
// host list against the layout's room for it; field errors are merged.
func createDraft(t secret.Tenant, in secret.Creatable) (secret.Draft, error) {
	verr := &secret.ValidationError{}
	var ve *secret.ValidationError
	if err := t.Validate(); err != nil {
		verr.Add("tenant", "%s", err.Error())
	}
	d, err := secret.Validate(in)
	switch {
	case errors.As(err, &ve):
		verr.Fields = append(verr.Fields, ve.Fields...)
	case err != nil:
		return d, err
	default:
		if err := checkHosts(d.AllowedHosts()); errors.As(err, &ve) {
			verr.Fields = append(verr.Fields, ve.Fields...)
		}
	}
	return d, verr.Err()
}

// finishMetadata writes the custom metadata that completes a data write
// that has already happened. It gets Config.Timeout of its own even when the
// caller's deadline is spent or the caller gave up: leaving the metadata
// behind the data is worse than finishing late.
func (s *Writer) finishMetadata(ctx context.Context, rel string, custom map[string]string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	return s.kvWriteMetadata(ctx, rel, custom)
}

// jsonKeys returns the top-level keys of a json secret (nil for others).
func jsonKeys(typ secret.Type, v secret.Value) ([]string, error) {
	if typ != secret.TypeJSON {
		return nil, nil
	}
	keys, err := secret.ObjectKeys(v.JSON)
	if err != nil {
		return nil, fmt.Errorf("vaultstore: json keys: %w", err)
	}
	return keys, nil
}

// Rotate replaces the value (and optionally allowed_hosts). It reads the
// secret's metadata once and checks the value against the stored type, so
// a caller needs no read of its own first: Prior is the secret as it was,
// set on error too once the secret was read (e.g. for an audit line).
func (s *Writer) Rotate(ctx context.Context, t secret.Tenant, alias string, in secret.RotateInput) (secret.Rotated, error) {
	var out secret.Rotated
	cur, err := s.rotate(ctx, t, alias, in, &out.Prior)
	out.Current = cur
	return out, err
}

func (s *Writer) rotate(ctx context.Context, t secret.Tenant, alias string, in secret.RotateInput, prior *secret.Metadata) (secret.Metadata, error) {
	alias, err := target(t, alias)
	if err != nil {
		return secret.Metadata{}, fmt.Errorf("vaultstore: rotate: %w", err)
	}
	var hosts []string
	if in.AllowedHosts != nil {
		hosts, err = secret.NormalizeHostGlobs("allowed_hosts", *in.AllowedHosts)
		if err == nil {
			err = checkHosts(hosts)
		}
		if err != nil {
			return secret.Metadata{}, fmt.Errorf("vaultstore: rotate: %w", err)
		}
	}
	rel := secretRel(t, alias)
	for attempt := 1; ; attempt++ {
		meta, err := s.activeMetadata(ctx, "rotate", t, alias)
		if err != nil {
			return secret.Metadata{}, err
		}
		cur := meta.toMetadata(alias)
		*prior = cur
		typ := cur.Type
		if !typ.Valid() {
			// Metadata not (yet) recorded: trust the caller's type.
			typ = in.Type
		}
		if in.Type != "" && in.Type != typ {
			return secret.Metadata{}, fmt.Errorf("vaultstore: rotate %s/%s: %w: stored type is %s", t, alias, secret.ErrTypeLocked, typ)
		}
		if in.Kind != "" && in.Kind != cur.Kind {
			return secret.Metadata{}, fmt.Errorf("vaultstore: rotate %s/%s: %w: stored kind is %q", t, alias, secret.ErrTypeLocked, cur.Kind)
		}
		value, err := secret.ValidateValue(typ, in.Value)
		if err != nil {
			return secret.Metadata{}, fmt.Errorf("vaultstore: rotate %s/%s: %w", t, alias, err)
		}
		if in.CheckValue != nil {
			if err := in.CheckValue(cur.Kind, value); err != nil {
				return secret.Metadata{}, fmt.Errorf("vaultstore: rotate %s/%s: %w", t, alias, err)
			}
		}
		keys, err := jsonKeys(typ, value)
		if err != nil {
			return secret.Metadata{}, err
		}
		newHosts := hosts
		if in.AllowedHosts == nil {
			newHosts = cur.AllowedHosts
		}
		version, updated, err := s.kvWriteAt(ctx, rel, encodeData(typ, cur.Kind, value, newHosts), meta.CurrentVersion)
		if errors.Is(err, secret.ErrConflict) && attempt < rotateAttempts {
			continue // another writer got in first: check again on its version
		}
		if err != nil {
			return secret.Metadata{}, fmt.Errorf("vaultstore: rotate %s/%s: %w", t, alias, err)
		}
		d := describe{
			typ: typ, kind: cur.Kind, hosts: newHosts, jsonKeys: keys, version: version,
			createdAt: cur.CreatedAt, createdBy: meta.Custom[metaCreatedBy], updatedBy: in.Actor,
		}
		if err := s.finishMetadata(ctx, rel, d.custom()); err != nil {
			_ = s.recordChange(ctx, t, alias) // the new value is live: sidecars must drop the old one
			return secret.Metadata{}, fmt.Errorf("vaultstore: rotate %s/%s: rotated, but recording its metadata failed: %w", t, alias, err)
		}
		_ = s.recordChange(ctx, t, alias)
		return secret.Metadata{
			Alias: alias, Type: typ, Kind: cur.Kind, AllowedHosts: newHosts, JSONKeys: keys,
			CreatedAt: cur.CreatedAt, UpdatedAt: updated, Version: version,
		}, nil
	}
}

// Archive soft-deletes the current version and records who and when. It
// returns the archived secret's metadata (set on error too once read).
func (s *Writer) Archive(ctx context.Context, t secret.Tenant, alias, actor string) (secret.Metadata, error) {
	alias, err := target(t, alias)
	if err != nil {
		return secret.Metadata{}, fmt.Errorf("vaultstore: archive: %w", err)
	}
	rel := secretRel(t, alias)
	meta, err := s.activeMetadata(ctx, "archive", t, alias)
	if err != nil {
		return secret.Metadata{}, err
	}
	prior := meta.toMetadata(alias)
	if err := s.kvDelete(ctx, rel); err != nil {
		return prior, fmt.Errorf("vaultstore: archive %s/%s: %w", t, alias, err)
	}
	_ = s.recordChange(ctx, t, alias)
	custom := meta.Custom
	custom[metaArchivedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	custom[metaArchivedBy] = truncate(actor, maxActorLen)
	if err := s.finishMetadata(ctx, rel, custom); err != nil {
		return prior, fmt.Errorf("vaultstore: archive %s/%s: archived, but recording who and when failed: %w", t, alias, err)
	}
	return prior, nil
}

// List returns the tenant's active secrets sorted by alias. It reads
// metadata only, never a value.
func (s *Writer) List(ctx context.Context, t secret.Tenant) ([]secret.Metadata, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("vaultstore: list: %w", err)
	}
	dir := tenantRel(t)
	keys, err := s.kvList(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("vaultstore: list %s: %w", t, err)
	}
	aliases := keys[:0]
	for _, k := range keys {
		if secret.ValidID(k) { // skips sub-directories ("x/") and foreign keys
			aliases = append(aliases, k)
		}
	}
	type result struct {
		md     secret.Metadata
		active bool
		err    error
	}
	results := make([]result, len(aliases))
	sem := make(chan struct{}, listParallel)
	var wg sync.WaitGroup
	for i, a := range aliases {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			meta, err := s.kvReadMetadata(ctx, dir+a)
			if errors.Is(err, secret.ErrNotFound) {
				return // removed since the list
			}
			results[i] = result{md: meta.toMetadata(a), active: meta.Active, err: err}
		}()
	}
	wg.Wait()
	out := make([]secret.Metadata, 0, len(aliases))
	for _, r := range results {
		if r.err != nil {
			return nil, fmt.Errorf("vaultstore: list %s: %w", t, r.err)
		}
		if r.active {
			out = append(out, r.md)
		}
	}
	slices.SortFunc(out, func(a, b secret.Metadata) int { return strings.Compare(a.Alias, b.Alias) })
	return out, nil
}

// Get returns one active secret's metadata.
func (s *Writer) Get(ctx context.Context, t secret.Tenant, alias string) (secret.Metadata, error) {
	alias, err := target(t, alias)
	if err != nil {
		return secret.Metadata{}, fmt.Errorf("vaultstore: get: %w", err)
	}
	meta, err := s.activeMetadata(ctx, "get", t, alias)
	if err != nil {
		return secret.Metadata{}, err
	}
	return meta.toMetadata(alias), nil
}

// activeMetadata reads the metadata of t's secret alias for op: ErrNotFound
// (wrapped with op) when it does not exist or its current version is
// archived.
func (s *Writer) activeMetadata(ctx context.Context, op string, t secret.Tenant, alias string) (kvMetadata, error) {
	meta, err := s.kvReadMetadata(ctx, secretRel(t, alias))
	if err == nil && !meta.Active {
		err = secret.ErrNotFound
	}
	if err != nil {
		return kvMetadata{}, fmt.Errorf("vaultstore: %s %s/%s: %w", op, t, alias, err)
	}
	return meta, nil
}
