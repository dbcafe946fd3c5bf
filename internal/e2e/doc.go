// Package e2e holds end-to-end tests of Sidekey's binaries: the admin API
// and the proxy, run as `sidekey admin` and `sidekey proxy` processes
// against the real dev Vault, with real clients and a real TLS upstream.
package e2e
