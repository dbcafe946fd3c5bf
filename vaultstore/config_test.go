package vaultstore

import (
	"errors"
	"strings"
	"testing"
	"time"
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

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		field string
		err   error
	}{
		{"Timeout", Config{Timeout: -time.Second}.Validate()},
		{"Mount", Config{Mount: "a b"}.Validate()},
		{"Prefix", Config{Prefix: "x/../y"}.Validate()},
		{"Prefix", Config{Prefix: "x//y"}.Validate()},
		{"Auth.Method", Config{Auth: AuthConfig{Method: "ldap"}}.Validate()},
		{"Cache.TTL", CacheConfig{TTL: -1}.Validate()},
		{"Cache.NegativeTTL", CacheConfig{NegativeTTL: -1}.Validate()},
		{"Cache.MaxStale", CacheConfig{MaxStale: -1}.Validate()},
		{"Cache.FeedInterval", CacheConfig{FeedInterval: -1}.Validate()},
		{"Cache.Size", CacheConfig{Size: -1}.Validate()},
	}
	for _, c := range cases {
		if c.err == nil || !errors.Is(c.err, errInvalidConfig) || !strings.Contains(c.err.Error(), c.field+" ") {
			t.Errorf("%s: got %v, want an invalid-configuration error naming the field", c.field, c.err)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v (zero means default)", err)
	}
	if err := (CacheConfig{}).Validate(); err != nil {
		t.Errorf("zero CacheConfig: %v (zero means default)", err)
	}
}
