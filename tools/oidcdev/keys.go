package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// signingKey is one key of the ring; it serves as op.SigningKey and op.Key.
type signingKey struct {
	kid string
	alg jose.SignatureAlgorithm
	key any // *rsa.PrivateKey or *ecdsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) ID() string                                  { return k.kid }

// Key returns the private key (op.SigningKey).
func (k *signingKey) Key() any { return k.key }

// publicKey is the published form of a signingKey (op.Key).
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.kid }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return p.k.alg }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any {
	switch k := p.k.key.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	}
	return nil
}

// keyRing holds the signing keys: the last one signs, all are published
// until retired.
type keyRing struct {
	mu   sync.Mutex
	keys []*signingKey
}

func newKeyRing(files []string) (*keyRing, error) {
	r := &keyRing{}
	for _, f := range files {
		k, err := loadKey(f)
		if err != nil {
			return nil, err
		}
		r.keys = append(r.keys, k)
	}
	if len(r.keys) == 0 {
		if _, err := r.rotate("RS256"); err != nil {
			return nil, err
		}
		return r, nil
	}
	// The first file signs: keep it last.
	r.keys = append(r.keys[1:], r.keys[0])
	return r, nil
}

// loadKey reads a PKCS#8, PKCS#1 or SEC 1 PEM private key. Its kid is the
// hex SHA-256 of its public key, cut to 16 bytes.
func loadKey(path string) (*signingKey, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the operator's flag.
	if err != nil {
		return nil, fmt.Errorf("--key-file: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("--key-file %s: no PEM block", path)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
			if key, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
				return nil, fmt.Errorf("--key-file %s: not an RSA or EC private key", path)
			}
		}
	}
	return newSigningKey(key)
}

func newSigningKey(key any) (*signingKey, error) {
	var alg jose.SignatureAlgorithm
	var pub any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		alg, pub = jose.RS256, &k.PublicKey
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("only P-256 EC keys are supported")
		}
		alg, pub = jose.ES256, &k.PublicKey
	default:
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &signingKey{kid: hex.EncodeToString(sum[:16]), alg: alg, key: key}, nil
}

// rotate makes a new key of alg (RS256, the default, or ES256) the signing
// key; the previous keys stay published. It returns the new kid.
func (r *keyRing) rotate(alg string) (string, error) {
	var key any
	var err error
	switch alg {
	case "", "RS256":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return "", fmt.Errorf("alg %q: want RS256 or ES256", alg)
	}
	if err != nil {
		return "", err
	}
	k, err := newSigningKey(key)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, k)
	return k.kid, nil
}

// retire stops publishing every key but the signing one and returns their
// kids.
func (r *keyRing) retire() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, k := range r.keys[:len(r.keys)-1] {
		out = append(out, k.kid)
	}
	r.keys = r.keys[len(r.keys)-1:]
	return out
}

func (r *keyRing) current() op.SigningKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys[len(r.keys)-1]
}

func (r *keyRing) algorithms() []jose.SignatureAlgorithm {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[jose.SignatureAlgorithm]bool{}
	var out []jose.SignatureAlgorithm
	for _, k := range r.keys {
		if !seen[k.alg] {
			seen[k.alg] = true
			out = append(out, k.alg)
		}
	}
	return out
}

func (r *keyRing) published() []op.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]op.Key, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, publicKey{k})
	}
	return out
}
