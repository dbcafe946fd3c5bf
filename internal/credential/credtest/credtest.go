// Package credtest holds test servers and verifiers for derived
// credentials. Each verifies what it receives with an implementation other
// than the one that produced it (go-jose for JWTs, the Standard Webhooks
// library for webhook signatures).
package credtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"testing"
)

// RSAKey is a service-account style key pair.
type RSAKey struct {
	Private *rsa.PrivateKey
	// PEM is the PKCS#8 PEM of the private key, as Google's key files hold.
	PEM string
	ID  string
}

// NewRSAKey generates a 2048-bit RSA key with a key id.
func NewRSAKey(t testing.TB, id string) *RSAKey {
	t.Helper()
	k, err := GenerateRSAKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// GenerateRSAKey is NewRSAKey for a program: it returns its error.
func GenerateRSAKey(id string) (*RSAKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("credtest: generate RSA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("credtest: encode RSA key: %w", err)
	}
	return &RSAKey{Private: k, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), ID: id}, nil
}

// ECKey is an APNs-style P-256 key.
type ECKey struct {
	Private *ecdsa.PrivateKey
	// PEM is the PKCS#8 PEM, as Apple's .p8 files hold.
	PEM string
}

// NewECKey generates a P-256 key.
func NewECKey(t testing.TB) *ECKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &ECKey{Private: k, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
}

// ServiceAccountJSON returns a Google-style key file for key.
func ServiceAccountJSON(t testing.TB, email, tokenURI string, key *RSAKey) json.RawMessage {
	t.Helper()
	b, err := ServiceAccountFile(email, tokenURI, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ServiceAccountFile returns a Google-style key file for key.
func ServiceAccountFile(email, tokenURI string, key *RSAKey) (json.RawMessage, error) {
	return json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "sidekey-test",
		"private_key_id": key.ID,
		"private_key":    key.PEM,
		"client_email":   email,
		"client_id":      "1234567890",
		"token_uri":      tokenURI,
	})
}

// APNsKeyJSON returns an apns_key object.
func APNsKeyJSON(t testing.TB, teamID, keyID string, key *ECKey) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(map[string]string{"team_id": teamID, "key_id": keyID, "private_key": key.PEM})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("credtest: rand: %v", err))
	}
	return fmt.Sprintf("%x", b)
}
