package confcheck

import (
	"errors"
	"testing"
	"time"
)

func TestCheckerReportsEveryField(t *testing.T) {
	c := New("proxy")
	NotNegative(c, "MaxConns", -1)
	NotNegative(c, "MaxValueBytes", int64(0))
	NotNegative(c, "ReadTimeout", -1500*time.Millisecond)
	NotNegative(c, "IdleTimeout", time.Second)
	c.Fail("UpstreamHTTP2", "%q must be %q or %q", "sometimes", "auto", "off")
	err := c.Err()
	const want = "proxy: invalid configuration: MaxConns: -1 must not be negative\n" +
		"proxy: invalid configuration: ReadTimeout: -1.5s must not be negative\n" +
		`proxy: invalid configuration: UpstreamHTTP2: "sometimes" must be "auto" or "off"`
	if err == nil || err.Error() != want {
		t.Fatalf("Err() = %q, want %q", err, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Component != "proxy" || fe.Field != "MaxConns" || fe.Reason != "-1 must not be negative" {
		t.Fatalf("first FieldError = %+v", fe)
	}
}

func TestCheckerWithoutFailuresIsNil(t *testing.T) {
	c := New("vaultstore")
	NotNegative(c, "Timeout", time.Duration(0))
	NotNegative(c, "Size", 10)
	if err := c.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil", err)
	}
}
