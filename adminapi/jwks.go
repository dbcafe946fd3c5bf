package adminapi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// minRSABits is the smallest RSA modulus accepted for RS256.
const minRSABits = 2048

// jwksKey is one verification key with the one alg it verifies.
type jwksKey struct {
	alg string
	key any
}

// keySet holds the public keys of a JWKS file by kid.
type keySet struct {
	byKID map[string]jwksKey
	// only is the key used when a token has no kid and the set has one key.
	only *jwksKey
}

// parseJWKS reads a JSON Web Key Set of RS256 and ES256 public keys. Private
// members in the file are ignored. Any key of another type, curve or alg,
// or two keys with one kid, fail the whole set.
func parseJWKS(raw []byte) (*keySet, error) {
	var m jwkset.JWKSMarshal
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("adminapi: JWKS is not JSON: %w", err)
	}
	if len(m.Keys) == 0 {
		return nil, errors.New("adminapi: JWKS has no keys")
	}
	ks := &keySet{byKID: map[string]jwksKey{}}
	for i, km := range m.Keys {
		if km.USE != "" && km.USE != jwkset.UseSig {
			continue
		}
		jwk, err := jwkset.NewJWKFromMarshal(km, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			return nil, fmt.Errorf("adminapi: JWKS key %d (kid %q): %w", i, km.KID, err)
		}
		k := jwksKey{key: jwk.Key()}
		switch pub := k.key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				return nil, fmt.Errorf("adminapi: JWKS key %d (kid %q): RSA key of %d bits, want %d or more", i, km.KID, pub.N.BitLen(), minRSABits)
			}
			k.alg = jwt.SigningMethodRS256.Alg()
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() {
				return nil, fmt.Errorf("adminapi: JWKS key %d (kid %q): only P-256 (ES256) EC keys are accepted", i, km.KID)
			}
			k.alg = jwt.SigningMethodES256.Alg()
		default:
			return nil, fmt.Errorf("adminapi: JWKS key %d (kid %q): unsupported key type %q, want RSA (RS256) or EC P-256 (ES256)", i, km.KID, km.KTY)
		}
		if km.ALG != "" && string(km.ALG) != k.alg {
			return nil, fmt.Errorf("adminapi: JWKS key %d (kid %q): alg %q does not fit its key, want %s", i, km.KID, km.ALG, k.alg)
		}
		if _, dup := ks.byKID[km.KID]; dup {
			return nil, fmt.Errorf("adminapi: JWKS has two keys with kid %q", km.KID)
		}
		ks.byKID[km.KID] = k
	}
	if len(ks.byKID) == 0 {
		return nil, errors.New("adminapi: JWKS has no signature keys")
	}
	if len(ks.byKID) == 1 {
		for _, k := range ks.byKID {
			ks.only = &k
		}
	}
	return ks, nil
}

// algs lists the algs of the set, for jwt.WithValidMethods.
func (ks *keySet) algs() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range ks.byKID {
		if !seen[k.alg] {
			seen[k.alg] = true
			out = append(out, k.alg)
		}
	}
	return out
}

// keyfunc picks the token's key by kid and pins the alg to the key's.
func (ks *keySet) keyfunc(t *jwt.Token) (any, error) {
	var (
		k  jwksKey
		ok bool
	)
	kid, hasKID := t.Header["kid"].(string)
	switch {
	case hasKID:
		k, ok = ks.byKID[kid]
	case ks.only != nil:
		k, ok = *ks.only, true
	}
	if !ok {
		return nil, errors.New("no key for the token's kid")
	}
	if t.Method.Alg() != k.alg {
		return nil, fmt.Errorf("token alg %s does not fit the key's alg %s", t.Method.Alg(), k.alg)
	}
	return k.key, nil
}
