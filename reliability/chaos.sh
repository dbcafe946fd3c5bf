#!/usr/bin/env bash
# make chaos: the reliability suite's fault tests in their long versions
# (SIDEKEY_CHAOS_FULL=1), then the two fuzzers for FUZZTIME each, with the
# corpus sizes the fuzzers ended with. See docs/RELIABILITY.md.
#
# Settings (environment): FUZZTIME=5m, GO=go.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5m}

log() { printf '%s chaos: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

log "fault tests (long versions)"
rc=0
SIDEKEY_CHAOS_FULL=1 "$GO" test -count=1 -timeout 30m -v \
	-run '^(TestVaultKillRestart|TestUpstreamFaults|TestAdminReplicas)$' ./reliability/ || rc=$?
[ $rc -eq 0 ] || log "fault tests FAILED (exit $rc); fuzzing anyway"

# corpus DIR: the number of inputs in a fuzz corpus directory (0 if none).
corpus() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }

cache=$("$GO" env GOCACHE)/fuzz/github.com/sidekey/sidekey
summary=()
for target in injector:FuzzRewrite adminapi:FuzzSecretJSON; do
	pkg=${target%%:*} fn=${target#*:}
	log "fuzz $pkg $fn for $FUZZTIME"
	"$GO" test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" "./$pkg/" 2>&1 | tail -n 3 || rc=1
	summary+=("$pkg $fn: fuzzed $FUZZTIME; corpus $(corpus "$cache/$pkg/$fn") generated + $(corpus "$pkg/testdata/fuzz/$fn") checked-in inputs (plus the f.Add seeds)")
done
log "done"
printf '%s\n' "${summary[@]}"
exit $rc
