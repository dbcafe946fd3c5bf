package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestProxyFlagErrorsNameTheFlags: the proxy's, the cache's and Vault's
// configuration checks report every bad value at once, by flag, before
// anything is dialled, and the flags refuse zero limits.
func TestProxyFlagErrorsNameTheFlags(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"proxy",
		"--max-body-bytes", "-1", "--h2-max-concurrent-streams", "0", "--upstream-http2", "sometimes",
		"--passthrough-hosts", "a b", "--cache-ttl", "-1s", "--negative-ttl", "0s",
		"--vault-timeout", "-2s", "--vault-mount", "x/../y",
	}, &out, &errb)
	if code != exitConfig {
		t.Fatalf("exit %d, want %d: %q", code, exitConfig, errb.String())
	}
	msg := errb.String()
	for _, want := range []string{
		"--max-body-bytes: -1 must not be negative",
		"--h2-max-concurrent-streams must be positive",
		`--upstream-http2: "sometimes" must be "auto" or "off"`,
		"--passthrough-hosts: ",
		"--cache-ttl: -1s must not be negative",
		"--negative-ttl must be positive",
		"--vault-timeout: -2s must not be negative",
		`--vault-mount: "x/../y" must be /-separated segments`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "invalid configuration") {
		t.Errorf("stderr %q names a library field, not its flag", msg)
	}
}
