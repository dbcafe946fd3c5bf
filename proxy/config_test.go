package proxy

import (
	"errors"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/confcheck"
)

// TestConfigValidate: DefaultConfig is valid and zero fields take the
// defaults; negative values are refused, every one named at once.
func TestConfigValidate(t *testing.T) {
	d := DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	if d.MaxBodyBytes != DefaultMaxBodyBytes || d.UpstreamTimeout != DefaultUpstreamTimeout || !d.ScrubResponses {
		t.Errorf("DefaultConfig = %+v", d)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero fields must take the defaults: %v", err)
	}
	bad := d
	bad.MaxBodyBytes, bad.DrainTimeout, bad.UpstreamHTTP2 = -1, -1, "sometimes"
	err := bad.Validate()
	for _, field := range []string{"MaxBodyBytes: ", "DrainTimeout: ", "UpstreamHTTP2: "} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v does not name %s", err, field)
		}
	}
	var fe *confcheck.FieldError
	if !errors.As(err, &fe) || fe.Component != "proxy" {
		t.Errorf("error %T is not a proxy *confcheck.FieldError", err)
	}
	missing := d
	if err := missing.validate(); err == nil || !strings.Contains(err.Error(), "Resolver: required") {
		t.Errorf("validate without a Resolver: %v", err)
	}
}
