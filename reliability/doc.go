// Package reliability is Sidekey's reliability suite: a soak under
// sustained injecting traffic, and fault tests — the dev Vault killed and
// restarted during traffic, upstreams that reset, stall, present an
// untrusted certificate or answer too much, and two admin replicas rotating
// the same secrets at once.
//
// Everything runs on loopback with the real binaries: `sidekey proxy` and
// `sidekey admin` (built by the tests' TestMain), bin/vaultdev (`make
// vault`) through internal/vaulttest, and TLS upstreams in the test process
// that count every placeholder reaching them (it must be none).
//
// Under `go test ./...` every test runs a short version (seconds). The long
// versions are selected by environment variables, set by the Makefile:
//
//	SIDEKEY_SOAK_DURATION=10m   length of TestSoak (make soak; default 5s)
//	SIDEKEY_SOAK_OUT=DIR        where TestSoak writes soak.csv and soak.png
//	SIDEKEY_CHAOS_FULL=1        longer outages, more rounds and rotations (make chaos)
//
// docs/RELIABILITY.md has the results of the full runs.
package reliability
