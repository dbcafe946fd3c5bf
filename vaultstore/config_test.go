package vaultstore

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/confcheck"
)

// validAndZeroFilled fails the test unless def is valid, and returns the
// zero configuration with its defaults filled in, to compare with def.
func validAndZeroFilled[C interface {
	Validate() error
	withDefaults() (C, error)
}](t *testing.T, def C) C {
	t.Helper()
	if err := def.Validate(); err != nil {
		t.Fatalf("default %T: %v", def, err)
	}
	var zero C
	filled, err := zero.withDefaults()
	if err != nil {
		t.Fatalf("zero %T with defaults: %v", zero, err)
	}
	return filled
}

func TestDefaultConfigsAreValidAndMatchWithDefaults(t *testing.T) {
	def := DefaultConfig()
	filled := validAndZeroFilled(t, def)
	if def.Mount != filled.Mount || def.Prefix != filled.Prefix || def.Timeout != filled.Timeout {
		t.Fatalf("DefaultConfig %+v differs from the zero config's defaults %+v", def, filled)
	}
	cdef := DefaultCacheConfig()
	cfilled := validAndZeroFilled(t, cdef)
	if cdef.TTL != cfilled.TTL || cdef.Size != cfilled.Size || cdef.NegativeTTL != cfilled.NegativeTTL ||
		cdef.MaxStale != cfilled.MaxStale || cdef.FeedInterval != cfilled.FeedInterval {
		t.Fatalf("DefaultCacheConfig %+v differs from the zero config's defaults %+v", cdef, cfilled)
	}
}

func TestValidateNamesEveryField(t *testing.T) {
	cases := []struct {
		fields []string
		err    error
	}{
		{[]string{"Timeout"}, Config{Timeout: -time.Second}.Validate()},
		{[]string{"Mount"}, Config{Mount: "a b"}.Validate()},
		{[]string{"Mount"}, Config{Mount: "/"}.Validate()},
		{[]string{"Prefix"}, Config{Prefix: "x/../y"}.Validate()},
		{[]string{"Prefix"}, Config{Prefix: "x//y"}.Validate()},
		{[]string{"Auth.Method"}, Config{Auth: AuthConfig{Method: "ldap"}}.Validate()},
		{[]string{"Timeout", "Mount", "Prefix", "Auth.Method"}, Config{Timeout: -1, Mount: "..", Prefix: "a b", Auth: AuthConfig{Method: "ldap"}}.Validate()},
		{[]string{"Cache.TTL"}, CacheConfig{TTL: -1}.Validate()},
		{[]string{"Cache.NegativeTTL"}, CacheConfig{NegativeTTL: -1}.Validate()},
		{[]string{"Cache.MaxStale"}, CacheConfig{MaxStale: -1}.Validate()},
		{[]string{"Cache.FeedInterval"}, CacheConfig{FeedInterval: -1}.Validate()},
		{[]string{"Cache.Size"}, CacheConfig{Size: -1}.Validate()},
		{[]string{"Cache.TTL", "Cache.Size", "Cache.MaxStale"}, CacheConfig{TTL: -1, Size: -1, MaxStale: -1}.Validate()},
	}
	for _, c := range cases {
		var got []string
		for _, e := range unjoin(c.err) {
			var fe *confcheck.FieldError
			if !errors.As(e, &fe) || fe.Component != "vaultstore" {
				t.Errorf("%v: %v (%T) is not a vaultstore *confcheck.FieldError", c.fields, e, e)
				continue
			}
			got = append(got, fe.Field)
		}
		if !slices.Equal(got, c.fields) {
			t.Errorf("got the fields %v (%v), want %v", got, c.err, c.fields)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v (zero means default)", err)
	}
	if err := (CacheConfig{}).Validate(); err != nil {
		t.Errorf("zero CacheConfig: %v (zero means default)", err)
	}
	const want = "vaultstore: invalid configuration: Timeout: -1s must not be negative"
	if err := (Config{Timeout: -time.Second}).Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
}

// unjoin returns the errors an errors.Join holds, or err alone (none for nil).
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // the join itself, not its chain
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
