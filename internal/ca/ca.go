// Package ca is the Sidekey certificate authority: it creates the CA that
// `sidekey ca init` writes, loads it for the proxy, and issues the
// short-lived leaf certificates the proxy presents when it intercepts TLS.
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names written by Init.
const (
	CertFile = "ca.crt"
	KeyFile  = "ca.key"
)

// DefaultValidity is the lifetime of a CA made by Init.
const DefaultValidity = 5 * 365 * 24 * time.Hour

// CA is a loaded certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// New creates a fresh ECDSA P-256 CA valid for validity from now.
func New(commonName string, validity time.Duration) (*CA, error) {
	now := time.Now()
	key, cert, err := mint(&x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Sidekey"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// mint gives tmpl a fresh ECDSA P-256 key and a random serial and signs it
// with parent's signer, or with its own key when parent is nil.
func mint(tmpl, parent *x509.Certificate, signer crypto.Signer) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: generate key: %w", err)
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: sign %s: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: parse certificate: %w", err)
	}
	return key, cert, nil
}

// CertPEM returns the CA certificate in PEM.
func (c *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM returns the CA key in PKCS #8 PEM.
func (c *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, fmt.Errorf("ca: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Init creates a CA and writes dir/ca.crt (0644) and dir/ca.key (0600). It
// refuses to overwrite existing files unless force is set.
func Init(dir string, force bool) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	if !force {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Stat(p); err == nil {
				return nil, fmt.Errorf("ca: %s exists (use --force to replace it)", p)
			}
		}
	}
	c, err := New("Sidekey CA", DefaultValidity)
	if err != nil {
		return nil, err
	}
	keyPEM, err := c.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(certPath, c.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	return c, nil
}

// writeFile writes data with mode, replacing the file atomically.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close() //nolint:errcheck,gosec // already failing
		return fmt.Errorf("ca: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close() //nolint:errcheck,gosec // already failing
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	return nil
}

// Load reads a CA certificate and key (PEM: PKCS #8, SEC 1 EC or PKCS #1
// RSA) and checks that they belong together and that the certificate may
// sign certificates.
func Load(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile) // #nosec G304 -- operator-supplied path
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile) // #nosec G304 -- operator-supplied path
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return Parse(certPEM, keyPEM)
}

// Parse is Load on PEM bytes.
func Parse(certPEM, keyPEM []byte) (*CA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: certificate and key: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("ca: parse certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("ca: the certificate is not a CA certificate (needs CA:TRUE and keyCertSign)")
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("ca: the key cannot sign")
	}
	if time.Now().After(cert.NotAfter) {
		return nil, fmt.Errorf("ca: the certificate expired at %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return &CA{Cert: cert, Key: signer}, nil
}

// Issue mints a leaf certificate for host (a DNS name or an IP address)
// with a fresh ECDSA P-256 key, valid from a few minutes ago for validity,
// and never beyond the CA's own expiry.
func (c *CA) Issue(host string, now time.Time, validity time.Duration) (*tls.Certificate, error) {
	return c.IssueHosts([]string{host}, now, validity)
}

// IssueHosts is Issue for a certificate that names several hosts; the first
// is its common name.
func (c *CA) IssueHosts(hosts []string, now time.Time, validity time.Duration) (*tls.Certificate, error) {
	if len(hosts) == 0 {
		return nil, errors.New("ca: a leaf needs at least one host")
	}
	notAfter := now.Add(validity)
	if notAfter.After(c.Cert.NotAfter) {
		notAfter = c.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   now.Add(-5 * time.Minute),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, host := range hosts {
		if ip := net.ParseIP(host); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	key, leaf, err := mint(tmpl, c.Cert, c.Key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{leaf.Raw, c.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("ca: serial: %w", err)
	}
	return n, nil
}
