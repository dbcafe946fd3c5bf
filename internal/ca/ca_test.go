package ca

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestInitLoadIssue(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := Init(dir, false); err == nil {
		t.Fatal("Init overwrote an existing CA without force")
	}
	c, err := Load(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(c.Cert)
	now := time.Now()
	for _, host := range []string{"api.weather.example", "127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			leaf, err := c.Issue(host, now, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
				t.Fatalf("leaf does not verify for %s: %v", host, err)
			}
			if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: roots}); err == nil {
				t.Fatal("leaf verifies for another name")
			}
			if leaf.Leaf.NotAfter.After(now.Add(time.Hour)) {
				t.Fatal("leaf outlives its validity")
			}
		})
	}
}

func TestLoadRefusesLeafAsCA(t *testing.T) {
	c, err := New("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := c.Issue("x.example", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leafCA := &CA{Cert: leaf.Leaf, Key: c.Key}
	keyPEM, err := leafCA.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(leafCA.CertPEM(), keyPEM); err == nil {
		t.Fatal("Parse accepted a leaf certificate (and a key that does not match) as a CA")
	}
}

func TestIssueHosts(t *testing.T) {
	c, err := New("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.IssueHosts([]string{"localhost", "127.0.0.1", "::1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(c.Cert)
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("leaf does not verify for %s: %v", host, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("leaf verifies for a host it does not name")
	}
	if _, err := c.IssueHosts(nil, time.Now(), time.Hour); err == nil {
		t.Error("IssueHosts with no host succeeded")
	}
}
