// Package tenantauth binds a proxy request to its tenant (SPEC §4). The
// sender proves its tenant with a credential that is an HMAC-SHA256 of the
// tenant under a key it shares with the proxy; the proxy checks it on every
// request and on every CONNECT.
//
// The credential travels as the password of a Basic Proxy-Authorization
// header whose user is "<org>.<domain>":
//
//	Proxy-Authorization: Basic base64("acme.billing:" + credential)
//
// Org and domain ids never contain a dot, so the user splits unambiguously.
package tenantauth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"os"
	"sync"

	"github.com/sidekey/sidekey/internal/secret"
)

// MinKeyLen is the shortest key accepted, in bytes.
const MinKeyLen = 16

// context separates these MACs from any other use of the same key.
const context = "sidekey-proxy-credential-v1"

// CredentialLen is the length of a credential: base64url (no padding) of a
// SHA-256 MAC.
const CredentialLen = 43

// Errors returned by Parse.
var (
	// ErrMissing means no Proxy-Authorization header was sent.
	ErrMissing = errors.New("tenantauth: no credentials")
	// ErrMalformed means the header is not Basic "<org>.<domain>:<credential>".
	ErrMalformed = errors.New("tenantauth: malformed credentials")
)

// Keys are the tenant keys of one deployment. The first key signs; every key
// verifies, so a new key can be rolled out first in the second position,
// then moved to the first, then the old one removed.
type Keys struct {
	keys  [][]byte
	pools []sync.Pool // one pool of *macState per key
}

// macState is a reusable HMAC state with scratch space for its input.
type macState struct {
	h   hash.Hash
	msg []byte
	sum []byte
}

// ParseKeys reads keys, one per line. Blank lines and lines starting with
// '#' are ignored; surrounding white space is trimmed. Each key is the
// line's bytes as written (for example 64 hex characters) and must be at
// least MinKeyLen bytes long.
func ParseKeys(data []byte) (*Keys, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		k := bytes.TrimSpace(sc.Bytes())
		if len(k) == 0 || k[0] == '#' {
			continue
		}
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("tenantauth: key on line %d is shorter than %d bytes", line, MinKeyLen)
		}
		keys = append(keys, bytes.Clone(k))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tenantauth: read keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("tenantauth: no key found")
	}
	return NewKeys(keys...)
}

// LoadKeyFile reads a key file (see ParseKeys).
func LoadKeyFile(path string) (*Keys, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- the operator names the file
	if err != nil {
		return nil, fmt.Errorf("tenantauth: %w", err)
	}
	k, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// NewKeys returns Keys over the given keys, the first of which signs.
func NewKeys(keys ...[]byte) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("tenantauth: no key")
	}
	k := &Keys{keys: keys, pools: make([]sync.Pool, len(keys))}
	for i := range keys {
		key := keys[i]
		k.pools[i].New = func() any {
			return &macState{h: hmac.New(sha256.New, key), msg: make([]byte, 0, 160), sum: make([]byte, 0, sha256.Size)}
		}
	}
	return k, nil
}

// Len returns the number of keys.
func (k *Keys) Len() int { return len(k.keys) }

// mac writes the MAC of t under key i into dst[:0].
func (k *Keys) mac(i int, t secret.Tenant, dst []byte) []byte {
	st := k.pools[i].Get().(*macState)
	st.msg = append(append(append(append(append(st.msg[:0], context...), 0), t.Org...), 0), t.Domain...)
	st.h.Reset()
	st.h.Write(st.msg)
	st.sum = st.h.Sum(st.sum[:0])
	dst = append(dst[:0], st.sum...)
	k.pools[i].Put(st)
	return dst
}

// Sign returns the tenant's credential under the first key.
func (k *Keys) Sign(t secret.Tenant) string {
	var buf [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(k.mac(0, t, buf[:0]))
}

// UserPass returns "<org>.<domain>:<credential>", the user and password
// pair a client passes as its proxy credentials (curl --proxy-user).
func (k *Keys) UserPass(t secret.Tenant) string {
	return t.Org + "." + t.Domain + ":" + k.Sign(t)
}

// Verify reports whether cred is the tenant's credential under any key.
// It compares in constant time and does not allocate.
func (k *Keys) Verify(t secret.Tenant, cred []byte) bool {
	if len(cred) != CredentialLen {
		return false
	}
	var want [sha256.Size]byte
	if _, err := base64.RawURLEncoding.Decode(want[:], cred); err != nil {
		return false
	}
	var got [sha256.Size]byte
	ok := 0
	for i := range k.keys {
		ok |= subtle.ConstantTimeCompare(k.mac(i, t, got[:0]), want[:])
	}
	return ok == 1
}

// Parse splits a Proxy-Authorization header value into tenant and
// credential. The credential aliases buf, which must hold at least
// len(header) bytes (scratch space for the base64 decoding).
func Parse(header, buf []byte) (secret.Tenant, []byte, error) {
	if len(header) == 0 {
		return secret.Tenant{}, nil, ErrMissing
	}
	const prefix = "basic "
	if len(header) <= len(prefix) || !bytes.EqualFold(header[:len(prefix)], []byte(prefix)) {
		return secret.Tenant{}, nil, ErrMalformed
	}
	enc := bytes.TrimSpace(header[len(prefix):])
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return secret.Tenant{}, nil, ErrMalformed
	}
	n, err := base64.StdEncoding.Decode(buf, enc)
	if err != nil {
		return secret.Tenant{}, nil, ErrMalformed
	}
	userPass := buf[:n]
	colon := bytes.IndexByte(userPass, ':')
	if colon < 0 {
		return secret.Tenant{}, nil, ErrMalformed
	}
	user, cred := userPass[:colon], userPass[colon+1:]
	dot := bytes.IndexByte(user, '.')
	if dot < 0 {
		return secret.Tenant{}, nil, ErrMalformed
	}
	t := secret.Tenant{Org: string(user[:dot]), Domain: string(user[dot+1:])}
	if t.Validate() != nil {
		return secret.Tenant{}, nil, ErrMalformed
	}
	return t, cred, nil
}
