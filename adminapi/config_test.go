package adminapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/confcheck"
)

// TestConfigValidate: DefaultConfig with a key is valid; every bad field is
// reported at once, by name, as a *confcheck.FieldError; zero takes the default.
func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Auth.HS256Key = []byte("a-development-key-of-more-than-32-bytes")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	zero := cfg
	zero.MaxValueBytes, zero.ReadyTimeout = 0, 0
	if err := zero.Validate(); err != nil {
		t.Fatalf("zero fields must take the defaults: %v", err)
	}
	bad := cfg
	bad.MaxValueBytes, bad.ReadyTimeout = -1, -1
	bad.CORSOrigins = []string{"console.example.com/app"}
	bad.Auth.HS256Key = []byte("short")
	err := bad.Validate()
	for _, field := range []string{"MaxValueBytes", "ReadyTimeout", "CORSOrigins", "Auth"} {
		if !strings.Contains(err.Error(), field+": ") {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
	var fe *confcheck.FieldError
	if !errors.As(err, &fe) || fe.Component != "adminapi" {
		t.Errorf("error %T is not an adminapi *confcheck.FieldError", err)
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "Store") {
		t.Errorf("New without a store: %v", err)
	}
}
