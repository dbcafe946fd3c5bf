package tenantauth

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/sidekey/sidekey/internal/secret"
)

func basic(s string) []byte { return []byte("Basic " + base64.StdEncoding.EncodeToString([]byte(s))) }

func TestSignVerifyRotation(t *testing.T) {
	oldKeys, err := ParseKeys([]byte("# old\nold-key-0123456789abcdef\n"))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := ParseKeys([]byte("new-key-0123456789abcdef\n\n old-key-0123456789abcdef \n"))
	if err != nil {
		t.Fatal(err)
	}
	acme := secret.Tenant{Org: "acme", Domain: "billing"}
	other := secret.Tenant{Org: "acme", Domain: "support"}

	oldCred := []byte(oldKeys.Sign(acme))
	newCred := []byte(rotated.Sign(acme))
	if len(newCred) != CredentialLen {
		t.Fatalf("credential length %d, want %d", len(newCred), CredentialLen)
	}
	tests := []struct {
		name string
		keys *Keys
		t    secret.Tenant
		cred []byte
		want bool
	}{
		{"old key verifies its own", oldKeys, acme, oldCred, true},
		{"rotated set verifies old credential", rotated, acme, oldCred, true},
		{"rotated set verifies new credential", rotated, acme, newCred, true},
		{"old set refuses new credential", oldKeys, acme, newCred, false},
		{"other tenant refused", rotated, other, newCred, false},
		{"truncated refused", rotated, acme, newCred[:40], false},
		{"empty refused", rotated, acme, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.keys.Verify(tc.t, tc.cred); got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
	if string(oldCred) == string(newCred) {
		t.Fatal("different keys produced the same credential")
	}
}

func TestParseKeysErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"comments":  "# nothing\n\n",
		"short key": "short\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseKeys([]byte(in)); err == nil {
				t.Fatal("ParseKeys accepted bad input")
			}
		})
	}
}

func TestParse(t *testing.T) {
	keys, err := NewKeys([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	acme := secret.Tenant{Org: "acme", Domain: "billing"}
	up := keys.UserPass(acme)
	buf := make([]byte, 256)
	tn, cred, err := Parse(basic(up), buf)
	if err != nil {
		t.Fatal(err)
	}
	if tn != acme || !keys.Verify(tn, cred) {
		t.Fatalf("Parse = %v, credential verifies %v", tn, keys.Verify(tn, cred))
	}
	tests := []struct {
		name   string
		header []byte
		want   error
	}{
		{"missing", nil, ErrMissing},
		{"bearer", []byte("Bearer abc"), ErrMalformed},
		{"bad base64", []byte("Basic !!!"), ErrMalformed},
		{"no colon", basic("acme.billing"), ErrMalformed},
		{"no dot", basic("acmebilling:x"), ErrMalformed},
		{"bad org", basic("Acme!.billing:x"), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Parse(tc.header, buf); !errors.Is(err, tc.want) {
				t.Fatalf("Parse error = %v, want %v", err, tc.want)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	keys, _ := NewKeys([]byte("0123456789abcdef0123"))
	acme := secret.Tenant{Org: "acme", Domain: "billing"}
	cred := []byte(keys.Sign(acme))
	b.ReportAllocs()
	for b.Loop() {
		if !keys.Verify(acme, cred) {
			b.Fatal("refused")
		}
	}
}
