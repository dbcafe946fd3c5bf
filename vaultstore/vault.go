package vaultstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hashicorp/vault/api"

	"github.com/sidekey/sidekey/internal/secret"
)

// Retry policy of one Vault call: exponential backoff from retryInitial up
// to retryMax between attempts, for transient failures only, until the
// caller's deadline (or Config.Timeout).
const (
	retryInitial = 50 * time.Millisecond
	retryMax     = time.Second
)

// errKind classifies a failed Vault call.
type errKind int

const (
	kindPermanent  errKind = iota // Vault answered with a refusal: do not retry
	kindTransient                 // connection failure, 5xx, 429, sealed, standby
	kindPermission                // 403
	kindNotFound                  // 404
	kindConflict                  // check-and-set mismatch
	kindCanceled                  // the caller's ctx ended
)

// classify tells how a vault/api error should be handled.
func classify(err error) errKind {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return kindCanceled
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		// No HTTP answer: refused, reset, DNS, TLS handshake, EOF. Other
		// failures (a token file that cannot be read, a malformed
		// answer) do not heal by retrying.
		var ue *url.Error
		var oe *net.OpError
		if errors.As(err, &ue) || errors.As(err, &oe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return kindTransient
		}
		return kindPermanent
	}
	switch {
	case re.StatusCode == http.StatusForbidden:
		return kindPermission
	case re.StatusCode == http.StatusNotFound:
		return kindNotFound
	case re.StatusCode == http.StatusBadRequest && casMismatch(re):
		return kindConflict
	case re.StatusCode == http.StatusTooManyRequests,
		re.StatusCode == http.StatusPreconditionFailed, // performance standby not caught up
		re.StatusCode == 472, re.StatusCode == 473,     // DR / performance standby
		re.StatusCode >= 500:
		return kindTransient
	default:
		return kindPermanent
	}
}

func casMismatch(re *api.ResponseError) bool {
	for _, e := range re.Errors {
		if strings.Contains(e, "check-and-set") {
			return true
		}
	}
	return false
}

// vaultError is a failure of one Vault call with a message safe to show:
// the operation, the path (which names tenant and alias, never a value) and
// Vault's status and error strings.
func vaultError(op, path string, err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		msgs := make([]string, len(re.Errors))
		for i, e := range re.Errors {
			msgs[i] = strings.Join(strings.Fields(e), " ")
		}
		return fmt.Errorf("%s %s: vault answered %d: %s", op, path, re.StatusCode, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

// call runs fn with the client's retry policy: transient failures are
// retried with exponential backoff until ctx's deadline (Config.Timeout when
// ctx has none); a 403 makes the client log in again once (when its auth
// method can) and retry; every other failure returns at once. The error is
// mapped onto the package's sentinels: ErrUnavailable, ErrPermission,
// ErrNotFound, ErrConflict.
func (s *Client) call(ctx context.Context, op, path string, fn func(ctx context.Context) error) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	var last error
	var lastKind errKind
	reauthed := false
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(retryInitial),
		backoff.WithMaxInterval(retryMax),
		backoff.WithMaxElapsedTime(0), // ctx bounds the attempts
	)
	attempt := func() error {
		began := time.Now()
		err := fn(ctx)
		if err == nil {
			return nil
		}
		last, lastKind = err, classify(err)
		switch lastKind {
		case kindTransient:
			return err
		case kindPermission:
			// The token may have been revoked or may have expired: a
			// fresh login fixes that; a policy that refuses does not.
			if !reauthed && s.reauth(ctx, began) {
				reauthed = true
				return err
			}
		}
		return backoff.Permanent(err)
	}
	err := backoff.Retry(attempt, backoff.WithContext(b, ctx))
	if err == nil {
		return nil
	}
	if last == nil {
		last = err
	}
	switch lastKind {
	case kindPermission:
		return fmt.Errorf("vaultstore: %w: %w", secret.ErrPermission, vaultError(op, path, last))
	case kindNotFound:
		return fmt.Errorf("vaultstore: %w: %w", secret.ErrNotFound, vaultError(op, path, last))
	case kindConflict:
		return fmt.Errorf("vaultstore: %w: %w", secret.ErrConflict, vaultError(op, path, last))
	case kindTransient:
		if ctx.Err() != nil {
			return fmt.Errorf("vaultstore: %w: %w (gave up: %w)", secret.ErrUnavailable, vaultError(op, path, last), context.Cause(ctx))
		}
		return fmt.Errorf("vaultstore: %w: %w", secret.ErrUnavailable, vaultError(op, path, last))
	case kindCanceled:
		if errors.Is(last, context.Canceled) {
			// The caller gave up: not a statement about Vault.
			return fmt.Errorf("vaultstore: %w", vaultError(op, path, last))
		}
		// The deadline ended during a call: Vault did not answer in time.
		return fmt.Errorf("vaultstore: %w: %w", secret.ErrUnavailable, vaultError(op, path, last))
	default:
		return fmt.Errorf("vaultstore: %w", vaultError(op, path, last))
	}
}

// withTimeout bounds ctx by Config.Timeout when it has no deadline.
func (s *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// dataPath is the KV v2 data path of rel (relative to the prefix).
func (s *Client) dataPath(rel string) string {
	return s.cfg.Mount + "/data/" + s.cfg.Prefix + "/" + rel
}

// metadataPath is the KV v2 metadata path of rel (relative to the prefix).
func (s *Client) metadataPath(rel string) string {
	return s.cfg.Mount + "/metadata/" + s.cfg.Prefix + "/" + rel
}

// kvRead reads the current version of the KV entry rel (relative to the
// prefix, e.g. "changes"). It returns ErrNotFound (wrapped) when the entry
// does not exist or its current version is deleted or destroyed, and the
// version it read otherwise. The sidecar policy allows it under the prefix.
func (s *Client) kvRead(ctx context.Context, rel string) (data map[string]any, version int, err error) {
	path := s.dataPath(rel)
	sec, err := s.read(ctx, "read", path)
	if err != nil {
		return nil, 0, err
	}
	meta, _ := sec.Data["metadata"].(map[string]any)
	version = toInt(meta["version"])
	data, _ = sec.Data["data"].(map[string]any)
	if data == nil {
		// Deleted or destroyed: Vault answers 404 with the metadata only.
		return nil, version, fmt.Errorf("vaultstore: read %s: %w", path, secret.ErrNotFound)
	}
	return data, version, nil
}

// kvWrite writes data as a new version of the KV entry rel. With cas >= 0
// the write is check-and-set: it succeeds only if the entry's current
// version is cas (0: the entry does not exist yet), else ErrConflict
// (wrapped). cas < 0 writes unconditionally. It returns the new version.
func (s *Client) kvWrite(ctx context.Context, rel string, data map[string]any, cas int) (version int, err error) {
	v, _, err := s.kvWriteAt(ctx, rel, data, cas)
	return v, err
}

// kvWriteAt is kvWrite that also returns the new version's creation time.
func (s *Client) kvWriteAt(ctx context.Context, rel string, data map[string]any, cas int) (version int, created time.Time, err error) {
	path := s.dataPath(rel)
	body := map[string]any{"data": data}
	if cas >= 0 {
		body["options"] = map[string]any{"cas": cas}
	}
	sec, err := s.write(ctx, "write", path, body)
	if err != nil {
		return 0, time.Time{}, err
	}
	if sec == nil || sec.Data == nil {
		return 0, time.Time{}, fmt.Errorf("vaultstore: write %s: vault answered without version metadata", path)
	}
	return toInt(sec.Data["version"]), toTime(sec.Data["created_time"]), nil
}

// kvDelete soft-deletes the current version of rel.
func (s *Client) kvDelete(ctx context.Context, rel string) error {
	path := s.dataPath(rel)
	return s.call(ctx, "delete", path, func(ctx context.Context) error {
		_, err := s.client.Logical().DeleteWithContext(ctx, path)
		return err
	})
}

// kvMetadata is the part of a KV v2 metadata entry the client uses.
type kvMetadata struct {
	CurrentVersion int
	// Active: the current version exists and is neither deleted nor
	// destroyed.
	Active    bool
	CreatedAt time.Time // of the current version
	Custom    map[string]string
}

// kvReadMetadata reads the metadata of rel: ErrNotFound (wrapped) when it
// does not exist.
func (s *Client) kvReadMetadata(ctx context.Context, rel string) (kvMetadata, error) {
	path := s.metadataPath(rel)
	sec, err := s.read(ctx, "read metadata", path)
	if err != nil {
		return kvMetadata{}, err
	}
	m := kvMetadata{CurrentVersion: toInt(sec.Data["current_version"]), Custom: map[string]string{}}
	if custom, ok := sec.Data["custom_metadata"].(map[string]any); ok {
		for k, v := range custom {
			if str, ok := v.(string); ok {
				m.Custom[k] = str
			}
		}
	}
	versions, _ := sec.Data["versions"].(map[string]any)
	if cur, ok := versions[fmt.Sprint(m.CurrentVersion)].(map[string]any); ok {
		deleted, _ := cur["deletion_time"].(string)
		destroyed, _ := cur["destroyed"].(bool)
		m.Active = deleted == "" && !destroyed
		m.CreatedAt = toTime(cur["created_time"])
	}
	return m, nil
}

// kvWriteMetadata replaces the custom metadata of rel (keeping its other
// settings).
func (s *Client) kvWriteMetadata(ctx context.Context, rel string, custom map[string]string) error {
	path := s.metadataPath(rel)
	_, err := s.write(ctx, "write metadata", path, map[string]any{"custom_metadata": custom})
	return err
}

// read reads path through call: ErrNotFound (wrapped) when Vault has no
// data there.
func (s *Client) read(ctx context.Context, op, path string) (*api.Secret, error) {
	var sec *api.Secret
	err := s.call(ctx, op, path, func(ctx context.Context) error {
		var err error
		sec, err = s.client.Logical().ReadWithContext(ctx, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("vaultstore: %s %s: %w", op, path, secret.ErrNotFound)
	}
	return sec, nil
}

// write writes body to path through call and returns Vault's answer.
func (s *Client) write(ctx context.Context, op, path string, body map[string]any) (*api.Secret, error) {
	var sec *api.Secret
	err := s.call(ctx, op, path, func(ctx context.Context) error {
		var err error
		sec, err = s.client.Logical().WriteWithContext(ctx, path, body)
		return err
	})
	return sec, err
}

// kvList lists the keys under the directory rel; a missing directory is
// empty.
func (s *Client) kvList(ctx context.Context, rel string) ([]string, error) {
	path := s.metadataPath(rel)
	var sec *api.Secret
	err := s.call(ctx, "list", path, func(ctx context.Context) error {
		var err error
		sec, err = s.client.Logical().ListWithContext(ctx, path)
		return err
	})
	if errors.Is(err, secret.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Data == nil {
		return nil, nil
	}
	raw, _ := sec.Data["keys"].([]any)
	keys := make([]string, 0, len(raw))
	for _, k := range raw {
		if str, ok := k.(string); ok {
			keys = append(keys, str)
		}
	}
	return keys, nil
}

// toInt reads a JSON number as vault/api decodes it (json.Number).
func toInt(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return 0
		}
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	case int64:
		return int(n)
	default:
		return 0
	}
}

// toTime reads an RFC 3339 time; anything else is the zero time.
func toTime(v any) time.Time {
	str, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
