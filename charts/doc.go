// Package charts holds the tests of the Helm charts in this directory: they
// lint and render charts/sidekey with the pinned Helm (bin/helm, installed
// by `make helm`), decode every rendered manifest strictly into the
// Kubernetes API types, and check the wiring against the real binary's
// flags. `go test ./charts/... -update` rewrites the golden files.
package charts
