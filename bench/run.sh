#!/usr/bin/env bash
# Sidekey proxy benchmark: throughput, p50/p99 latency, proxy CPU
# and memory of Sidekey against a direct baseline, Squid (plain forward) and
# mitmproxy (TLS interception with an injecting addon), in one bounded run
# on loopback. See docs/bench-proxy.md.
#
#   bench/run.sh          the comparison and the idle-connection memory (make bench-proxy)
#   bench/run.sh soak     Sidekey under load for SOAK_DURATION, RSS sampled (make bench-proxy-soak)
#   bench/run.sh sidecar  only the sidecar cases: unpinned, partial load, net/http sender,
#                         Sidekey at GOMAXPROCS=1 and 2 beside Squid (make bench-proxy-sidecar)
#
# Settings (environment): ROUNDS=3 WARMUP=2s DURATION=10s LIGHT_WARMUP=1s
# LIGHT_DURATION=4s CONNS=32 H2_CONNS=10 H2_STREAMS=32 IDLE_CONNS=1000 SOAK_DURATION=300s PIN=1
# SIDEKEY=1 PEERS=1 PORT_BASE=18400 OUT=<dir> SIDEKEY_EXTRA_FLAGS="..."
# SIDEKEY_BIN=<a sidekey binary to measure instead of bin/sidekey>
# SIDEKEY_BIN_B=<a second binary: the sidecar cases run for it too, same run, as sidekeyb-*>
# SIDEKEY_ENV_B="ENV=VALUE..." (extra environment of build B, e.g. GODEBUG= for Go's default)
# SIDECAR_GODEBUG=<GODEBUG of the sidecar cases' Sidekey; default: the chart's sidecar.godebug>
# SIDECAR=1 RATE=2000 SIDECAR_CONNS=32 SIDECAR_WARMUP=2s SIDECAR_DURATION=10s
# ONLY=<bash regex of case names>, e.g. ONLY='-1c$' for the light-load cases.
#
# Every process it starts is stopped by PID on exit, error or Ctrl-C.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=${1:-all}
case $MODE in all | soak | sidecar) ;; *)
	echo "usage: bench/run.sh [all|soak|sidecar]" >&2
	exit 2
	;;
esac

ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
DURATION=${DURATION:-10s}
LIGHT_WARMUP=${LIGHT_WARMUP:-1s}
LIGHT_DURATION=${LIGHT_DURATION:-4s}
CONNS=${CONNS:-32}
H2_CONNS=${H2_CONNS:-10}
H2_STREAMS=${H2_STREAMS:-32}
IDLE_CONNS=${IDLE_CONNS:-1000}
SOAK_DURATION=${SOAK_DURATION:-300s}
PIN=${PIN:-1}
SIDEKEY=${SIDEKEY:-1}
PEERS=${PEERS:-1}
PORT_BASE=${PORT_BASE:-18400}
SIDEKEY_EXTRA_FLAGS=${SIDEKEY_EXTRA_FLAGS:-}
SIDEKEY_BIN=${SIDEKEY_BIN:-$ROOT/bin/sidekey}
SIDEKEY_BIN_B=${SIDEKEY_BIN_B:-}
SIDECAR=${SIDECAR:-1}
RATE=${RATE:-2000}
SIDECAR_CONNS=${SIDECAR_CONNS:-32}
SIDECAR_WARMUP=${SIDECAR_WARMUP:-2s}
SIDECAR_DURATION=${SIDECAR_DURATION:-10s}
# The sidecar cases run Sidekey with the GODEBUG the chart gives its sidecar.
CHART_GODEBUG=$(sed -n 's/^  godebug: "\(.*\)"$/\1/p' charts/sidekey/values.yaml)
SIDECAR_GODEBUG=${SIDECAR_GODEBUG-$CHART_GODEBUG}
MITM=$PEERS
[[ $MODE == soak ]] && PEERS=0 && MITM=0 && SIDEKEY=1 && SIDECAR=0
[[ $MODE == sidecar ]] && MITM=0 && SIDEKEY=1 && SIDECAR=1 && PIN=0
OUT=${OUT:-$(mktemp -d /tmp/sidekey-bench.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT" # Squid drops to the proxy user and writes below it.

VAULT_PORT=$PORT_BASE
UP_PORT=$((PORT_BASE + 1))
UPTLS_PORT=$((PORT_BASE + 2))
CTL_PORT=$((PORT_BASE + 3))
SK_PORT=$((PORT_BASE + 4))
SK_METRICS_PORT=$((PORT_BASE + 5))
SQUID_PORT=$((PORT_BASE + 6))
MITM_PORT=$((PORT_BASE + 7))
SK1_PORT=$((PORT_BASE + 8)) # the sidecar cases' Sidekey at GOMAXPROCS=1
SK1_METRICS_PORT=$((PORT_BASE + 9))
SK2_PORT=$((PORT_BASE + 10)) # and at GOMAXPROCS=2
SK2_METRICS_PORT=$((PORT_BASE + 11))
SKB1_PORT=$((PORT_BASE + 12)) # SIDEKEY_BIN_B at GOMAXPROCS=1 and 2
SKB1_METRICS_PORT=$((PORT_BASE + 13))
SKB2_PORT=$((PORT_BASE + 14))
SKB2_METRICS_PORT=$((PORT_BASE + 15))
UP=127.0.0.1:$UP_PORT
UPTLS=127.0.0.1:$UPTLS_PORT

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
	printf '\nBENCHMARK FAILED: %s\n(output kept in %s)\n' "$*" "$OUT" >&2
	exit 1
}

# --- processes: started here, stopped by PID -------------------------------
declare -A PID_OF=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local name pid i
	for name in "${!PID_OF[@]}"; do
		kill -TERM "${PID_OF[$name]}" 2>/dev/null || true
	done
	for name in "${!PID_OF[@]}"; do
		pid=${PID_OF[$name]}
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# on CPU LIST, run a command (taskset when pinning).
on() {
	local cpus=$1
	shift
	if [[ $PIN == 1 ]]; then
		taskset -c "$cpus" "$@"
	else
		"$@"
	fi
}

# start NAME CPU CMD...: runs CMD in the background, output to $OUT/NAME.log.
# A simple command (taskset execs its program), so $! is the program's PID.
start() {
	local name=$1 cpus=$2
	shift 2
	if [[ $PIN == 1 ]]; then
		taskset -c "$cpus" "$@" >"$OUT/$name.log" 2>&1 &
	else
		"$@" >"$OUT/$name.log" 2>&1 &
	fi
	PID_OF[$name]=$!
}

# set_affinity CPUS NAME...: move every thread of running processes.
set_affinity() {
	local cpus=$1 name
	shift
	for name; do
		taskset -apc "$cpus" "${PID_OF[$name]}" >/dev/null || die "taskset of $name failed"
	done
}

# pin_again: proxies back on CPU 1, the rest on CPU 0.
pin_again() {
	local name
	for name in "${!PID_OF[@]}"; do
		case $name in
		sidekey | squid | mitm) set_affinity 1 "$name" ;;
		sidekey-gmp* | sidekeyb-gmp*) ;; # the sidecar cases' proxies stay unpinned
		*) set_affinity 0 "$name" ;;
		esac
	done
}

# wait_port NAME PORT [SECONDS]: until something listens, or NAME died.
wait_port() {
	local name=$1 port=$2 limit=${3:-30}
	local deadline=$((SECONDS + limit))
	until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		kill -0 "${PID_OF[$name]}" 2>/dev/null || die "$name exited early; its log: $(tail -5 "$OUT/$name.log")"
		((SECONDS < deadline)) || die "$name did not listen on port $port within ${limit}s"
		sleep 0.1
	done
}

hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# idle_pct: the machine's idle CPU share over 2 s, from /proc/stat.
idle_pct() {
	local a b
	read -r -a a </proc/stat
	sleep 2
	read -r -a b </proc/stat
	local t=0 i
	for i in 1 2 3 4 5 6 7 8; do t=$((t + b[i] - a[i])); done
	echo $((100 * (b[4] - a[4] + b[5] - a[5]) / (t > 0 ? t : 1)))
}

# --- preflight ---------------------------------------------------------------
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [[ $PIN == 1 && $(nproc) -lt 2 ]]; then
	log "fewer than 2 CPUs: not pinning"
	PIN=0
fi
command -v taskset >/dev/null || PIN=0
for p in $VAULT_PORT $UP_PORT $UPTLS_PORT $CTL_PORT $SK_PORT $SK_METRICS_PORT $SQUID_PORT $MITM_PORT \
	$SK1_PORT $SK1_METRICS_PORT $SK2_PORT $SK2_METRICS_PORT $SKB1_PORT $SKB1_METRICS_PORT $SKB2_PORT $SKB2_METRICS_PORT; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		die "port $p is in use; set PORT_BASE to a free range"
	fi
done

# has_candidate PKG: Debian has an installable version of PKG.
has_candidate() {
	local policy
	policy=$(apt-cache policy "$1" 2>/dev/null) || return 1
	[[ $policy =~ Candidate:\ [0-9] ]]
}

ensure_peers() {
	local missing=() p
	command -v squid >/dev/null || missing+=(squid)
	[[ $MITM == 1 ]] && ! command -v mitmdump >/dev/null && missing+=(mitmproxy)
	((${#missing[@]} == 0)) && return 0
	[[ $(id -u) == 0 ]] || die "install ${missing[*]} first: sudo apt-get install -y ${missing[*]}"
	log "installing ${missing[*]} from Debian"
	for p in "${missing[@]}"; do
		if ! has_candidate "$p"; then
			apt-get update -qq >"$OUT/apt-update.log" 2>&1 || die "apt-get update failed; see $OUT/apt-update.log"
			break
		fi
	done
	for p in "${missing[@]}"; do
		has_candidate "$p" || die "no Debian package $p here (apt-cache policy $p)"
	done
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$OUT/apt.log" 2>&1 ||
		die "apt-get install ${missing[*]} failed; see $OUT/apt.log"
	log "installed: $(squid -v | head -1), $(mitmdump --version 2>/dev/null | head -1)"
}
[[ $PEERS == 1 ]] && ensure_peers

log "building the bench tools into $OUT/bin"
go build -o "$OUT/bin/" ./bench/loadgen ./bench/upstream ./bench/seed ./bench/report
if [[ $SIDEKEY == 1 ]]; then
	log "building bin/sidekey and bin/vaultdev"
	make -s build vault >"$OUT/build.log" 2>&1 || die "make build vault failed; see $OUT/build.log"
fi
CLK_TCK=$(getconf CLK_TCK)

log "machine idle CPU before the run (2 s sample)"
IDLE_BEFORE=$(idle_pct)
log "idle: ${IDLE_BEFORE} %"

# --- Vault, secrets, tenant credential, CA -------------------------------------
if [[ $SIDEKEY == 1 ]]; then
	# The root token goes to the seed helper only; Sidekey gets a token of
	# the sidecar policy, and no VAULT_TOKEN in its environment.
	unset VAULT_TOKEN
	root_token="bench-$(hex 16)"
	export VAULT_ADDR="http://127.0.0.1:$VAULT_PORT"
	start vault 0 "$ROOT/bin/vaultdev" -listen "127.0.0.1:$VAULT_PORT" -root-token "$root_token"
	deadline=$((SECONDS + 60))
	until grep -q 'vaultdev: ready' "$OUT/vault.log" 2>/dev/null; do
		kill -0 "${PID_OF[vault]}" 2>/dev/null || die "vaultdev exited: $(tail -5 "$OUT/vault.log")"
		((SECONDS < deadline)) || die "vaultdev not ready within 60s"
		sleep 0.2
	done
	log "Vault ready; writing the benchmark secrets through vaultstore"
	VAULT_TOKEN=$root_token "$OUT/bin/seed" -out "$OUT/values.json" -sidecar-token-out "$OUT/vault.token" ||
		die "seeding Vault failed"

	hex 32 >"$OUT/tenant.keys"
	echo >>"$OUT/tenant.keys"
	chmod 600 "$OUT/tenant.keys"
	umask 077
	"$ROOT/bin/sidekey" token proxy --key-file "$OUT/tenant.keys" --org bench --domain notify \
		--format header >"$OUT/proxy-auth" || die "sidekey token proxy failed"
	umask 022

	"$ROOT/bin/sidekey" ca init --out "$OUT/ca" >"$OUT/ca.log" 2>&1 || die "sidekey ca init failed: $(cat "$OUT/ca.log")"
else
	"$OUT/bin/seed" -values-only -out "$OUT/values.json"
fi

# --- upstream ------------------------------------------------------------------
start upstream 0 "$OUT/bin/upstream" -listen "$UP" -tls-listen "$UPTLS" \
	-control "127.0.0.1:$CTL_PORT" -values "$OUT/values.json" -tls-dir "$OUT"
wait_port upstream "$CTL_PORT"
wait_port upstream "$UPTLS_PORT"

# --- Sidekey -------------------------------------------------------------------
# start_sidekey NAME CPUS PORT METRICS_PORT [ENV=VALUE...]: one Sidekey proxy.
start_sidekey() {
	local name=$1 cpus=$2 port=$3 mport=$4 bin=$SIDEKEY_BIN
	shift 4
	if [[ $name == sidekeyb-* ]]; then
		bin=$SIDEKEY_BIN_B
		# shellcheck disable=SC2206 # SIDEKEY_ENV_B is a list of ENV=VALUE words.
		set -- "$@" ${SIDEKEY_ENV_B:-}
	fi
	# Per-request logging off (warn), as Squid's access log is off below.
	# shellcheck disable=SC2086 # SIDEKEY_EXTRA_FLAGS is a list of flags.
	start "$name" "$cpus" env "$@" "$bin" proxy \
		--listen "127.0.0.1:$port" \
		--metrics-listen "127.0.0.1:$mport" \
		--tenant-key-file "$OUT/tenant.keys" \
		--ca-cert "$OUT/ca/ca.crt" --ca-key "$OUT/ca/ca.key" \
		--upstream-ca "$OUT/upstream-ca.pem" \
		--allow-upstream-cidr 127.0.0.0/8 \
		--allow-plain-http-injection \
		--vault-addr "$VAULT_ADDR" --vault-token-file "$OUT/vault.token" \
		--log-level warn $SIDEKEY_EXTRA_FLAGS
	wait_port "$name" "$port"
	local deadline=$((SECONDS + 30))
	until curl -fsS -o /dev/null "http://127.0.0.1:$mport/readyz" 2>/dev/null; do
		kill -0 "${PID_OF[$name]}" 2>/dev/null || die "$name exited: $(tail -5 "$OUT/$name.log")"
		((SECONDS < deadline)) || die "$name not ready within 30s"
		sleep 0.2
	done
	log "$name ready (PID ${PID_OF[$name]})"
}
ALL_CPUS="0-$(($(nproc) - 1))"
if [[ $SIDEKEY == 1 && $MODE != sidecar ]]; then
	start_sidekey sidekey 1 "$SK_PORT" "$SK_METRICS_PORT"
fi
if [[ $SIDEKEY == 1 && $SIDECAR == 1 ]]; then
	# Unpinned, GOMAXPROCS set as a container's CPU limit of 1 or 2 sets it,
	# and the runtime settings the chart gives its sidecar.
	start_sidekey sidekey-gmp1 "$ALL_CPUS" "$SK1_PORT" "$SK1_METRICS_PORT" GOMAXPROCS=1 "GODEBUG=$SIDECAR_GODEBUG"
	start_sidekey sidekey-gmp2 "$ALL_CPUS" "$SK2_PORT" "$SK2_METRICS_PORT" GOMAXPROCS=2 "GODEBUG=$SIDECAR_GODEBUG"
	if [[ -n $SIDEKEY_BIN_B ]]; then
		start_sidekey sidekeyb-gmp1 "$ALL_CPUS" "$SKB1_PORT" "$SKB1_METRICS_PORT" GOMAXPROCS=1 "GODEBUG=$SIDECAR_GODEBUG"
		start_sidekey sidekeyb-gmp2 "$ALL_CPUS" "$SKB2_PORT" "$SKB2_METRICS_PORT" GOMAXPROCS=2 "GODEBUG=$SIDECAR_GODEBUG"
	fi
fi

# --- peers ---------------------------------------------------------------------
if [[ $PEERS == 1 ]]; then
	mkdir -p "$OUT/squid" "$OUT/mitm"
	chown proxy:proxy "$OUT/squid" 2>/dev/null || chmod 777 "$OUT/squid"
	sed -e "s/@PORT@/$SQUID_PORT/" -e "s#@DIR@#$OUT/squid#" bench/peers/squid.conf.in >"$OUT/squid/squid.conf"
	start squid 1 squid -N -f "$OUT/squid/squid.conf"
	wait_port squid "$SQUID_PORT"
	log "Squid ready (PID ${PID_OF[squid]})"
fi
if [[ $MITM == 1 ]]; then
	export SIDEKEY_BENCH_VALUES="$OUT/values.json" # read by the addon
	start mitm 1 mitmdump -q \
		--listen-host 127.0.0.1 -p "$MITM_PORT" \
		--set confdir="$OUT/mitm" \
		--set ssl_verify_upstream_trusted_ca="$OUT/upstream-ca.pem" \
		-s bench/peers/mitm_inject.py
	wait_port mitm "$MITM_PORT" 60
	log "mitmproxy ready (PID ${PID_OF[mitm]})"
fi

# --- cases -----------------------------------------------------------------------
# case_args CASE: sets ARGS to the loadgen flags of the case.
case_args() {
	local c=${1%-unpinned} sk=sidekey skport=$SK_PORT
	case $c in
	sidekeyb-*-gmp1) sk=sidekeyb-gmp1 skport=$SKB1_PORT ;;
	sidekeyb-*-gmp2) sk=sidekeyb-gmp2 skport=$SKB2_PORT ;;
	*-gmp1) sk=sidekey-gmp1 skport=$SK1_PORT ;;
	*-gmp2) sk=sidekey-gmp2 skport=$SK2_PORT ;;
	esac
	[[ $c == sidekeyb-* ]] && c=sidekey-${c#sidekeyb-}
	c=${c%-gmp[12]}
	c=${c/-sidecar-/-}
	c=${c%-onecore}
	c=${c%-crosscore}
	c=${c%-1c}
	local auth=(-proxy-auth-file "$OUT/proxy-auth")
	case $c in
	direct) ARGS=(-route direct -addr "$UP" -upstream "$UP") ;;
	sidekey-plain-noph) ARGS=(-route proxy -addr "127.0.0.1:$skport" -upstream "$UP" "${auth[@]}" -proxy-pid "${PID_OF[$sk]}") ;;
	sidekey-plain-inject | sidekey-idle-plain) ARGS=(-route proxy -placeholders -addr "127.0.0.1:$skport" -upstream "$UP" "${auth[@]}" -proxy-pid "${PID_OF[$sk]}") ;;
	sidekey-connect-h2-inject | sidekey-idle-connect-h2) ARGS=(-route connect -h2 -placeholders -addr "127.0.0.1:$skport" -tls-upstream "$UPTLS" -ca "$OUT/ca/ca.crt" "${auth[@]}" -proxy-pid "${PID_OF[$sk]}") ;;
	sidekey-connect-inject | sidekey-idle-connect) ARGS=(-route connect -placeholders -addr "127.0.0.1:$skport" -tls-upstream "$UPTLS" -ca "$OUT/ca/ca.crt" "${auth[@]}" -proxy-pid "${PID_OF[$sk]}") ;;
	sidekey-soak) ARGS=(-route mixed -placeholders -addr "127.0.0.1:$skport" -upstream "$UP" -tls-upstream "$UPTLS" -ca "$OUT/ca/ca.crt" "${auth[@]}" -proxy-pid "${PID_OF[$sk]}") ;;
	squid-plain | squid-idle-plain) ARGS=(-route proxy -addr "127.0.0.1:$SQUID_PORT" -upstream "$UP" -proxy-pid "${PID_OF[squid]}") ;;
	mitm-connect-inject | mitm-idle-connect) ARGS=(-route connect -placeholders -addr "127.0.0.1:$MITM_PORT" -tls-upstream "$UPTLS" -ca "$OUT/mitm/mitmproxy-ca-cert.pem" -proxy-pid "${PID_OF[mitm]}") ;;
	*) die "unknown case $1" ;;
	esac
}

# loadgen CASE ROUND EXTRA...: one measured case, pinned to CPU 0 with the upstream.
loadgen() {
	local c=$1 r=$2
	shift 2
	case_args "$c"
	local rc=0 cpu=0
	[[ $c == *-crosscore ]] && cpu=1 # the generator on the other core than the upstream
	on "$cpu" "$OUT/bin/loadgen" -case "$c" -round "$r" -values "$OUT/values.json" \
		-control "127.0.0.1:$CTL_PORT" -upstream-pid "${PID_OF[upstream]}" -clk-tck "$CLK_TCK" \
		-out "$OUT/results.jsonl" "${ARGS[@]}" "$@" >/dev/null || rc=$?
	case $rc in
	0) ;;
	130) exit 130 ;;
	*) die "case $c round $r failed: the work was not done or not verified (see the loadgen line above)" ;;
	esac
	local name
	for name in "${!PID_OF[@]}"; do
		kill -0 "${PID_OF[$name]}" 2>/dev/null || die "$name (PID ${PID_OF[$name]}) died during case $c: $(tail -3 "$OUT/$name.log")"
	done
}

HEAVY=(direct)
LIGHT=(direct-1c)
[[ $PIN == 1 ]] && LIGHT+=(direct-1c-crosscore)
UNPINNED=()
ONECORE=()
IDLE=()
if [[ $SIDEKEY == 1 && $MODE != sidecar ]]; then
	HEAVY+=(sidekey-plain-noph sidekey-plain-inject sidekey-connect-inject sidekey-connect-h2-inject)
	LIGHT+=(sidekey-plain-inject-1c sidekey-connect-inject-1c)
	IDLE+=(sidekey-idle-plain sidekey-idle-connect sidekey-idle-connect-h2)
	# Light load once more with every process free to run on any CPU: with
	# pinning, each request crosses cores four times (generator -> proxy ->
	# upstream -> proxy -> generator) while the direct baseline stays on one.
	[[ $PIN == 1 ]] && UNPINNED=(direct-1c-unpinned sidekey-plain-inject-1c-unpinned sidekey-connect-inject-1c-unpinned)
	# And with every process on CPU 0, as direct-1c is: no cross-core wake-up
	# at all, so the difference to direct-1c is the proxy's own path.
	[[ $PIN == 1 ]] && ONECORE=(sidekey-plain-inject-1c-onecore sidekey-connect-inject-1c-onecore)
fi
if [[ $PEERS == 1 && $MODE != sidecar ]]; then
	HEAVY+=(squid-plain mitm-connect-inject)
	LIGHT+=(squid-plain-1c mitm-connect-inject-1c)
	IDLE+=(squid-idle-plain mitm-idle-connect)
fi
[[ $MODE == sidecar ]] && HEAVY=() LIGHT=()
# The sidecar's normal state: every process free to run on any CPU, the
# proxy well below one core (a net/http sender at a fixed RATE over
# SIDECAR_CONNS keep-alive connections), Sidekey at GOMAXPROCS=1 and 2.
SIDECARS=()
if [[ $SIDECAR == 1 ]]; then
	[[ $PEERS == 1 ]] && SIDECARS+=(squid-sidecar-plain)
	if [[ $SIDEKEY == 1 ]]; then
		for c in plain-noph-gmp1 plain-noph-gmp2 connect-inject-gmp1 connect-inject-gmp2; do
			SIDECARS+=("sidekey-sidecar-$c")
			# A second build right after the first, so drift hits both alike.
			[[ -n $SIDEKEY_BIN_B ]] && SIDECARS+=("sidekeyb-sidecar-$c")
		done
	fi
fi

# ONLY (a bash regex) keeps the cases whose names match.
if [[ -n ${ONLY:-} ]]; then
	keep() {
		local -n list=$1
		local out=() c
		for c in "${list[@]}"; do [[ $c =~ $ONLY ]] && out+=("$c"); done
		list=("${out[@]}")
	}
	keep HEAVY
	keep LIGHT
	keep UNPINNED
	keep ONECORE
	keep IDLE
	keep SIDECARS
fi

START=$SECONDS
if [[ $MODE == soak ]]; then
	log "soak: $CONNS connections (half http://, half CONNECT+TLS, reopened every 500 requests) for $SOAK_DURATION"
	WARMUP=5s DURATION=$SOAK_DURATION
	loadgen sidekey-soak 1 -conns "$CONNS" -warmup "$WARMUP" -duration "$DURATION" -rss-every 10s -reqs-per-conn 500
	COMMAND="make bench-proxy-soak"
	[[ $SOAK_DURATION != 300s ]] && COMMAND="SOAK_DURATION=$SOAK_DURATION make bench-proxy-soak"
else
	for ((round = 1; round <= ROUNDS; round++)); do
		((${#HEAVY[@]})) && log "round $round of $ROUNDS: $CONNS connections, $WARMUP warm-up + $DURATION"
		for c in "${HEAVY[@]}"; do
			if [[ $c == *-h2-* ]]; then
				loadgen "$c" "$round" -conns "$H2_CONNS" -streams "$H2_STREAMS" -warmup "$WARMUP" -duration "$DURATION"
				continue
			fi
			loadgen "$c" "$round" -conns "$CONNS" -warmup "$WARMUP" -duration "$DURATION"
		done
		((${#LIGHT[@]})) && log "round $round of $ROUNDS: 1 connection (light load), $LIGHT_WARMUP + $LIGHT_DURATION"
		for c in "${LIGHT[@]}"; do
			loadgen "$c" "$round" -conns 1 -warmup "$LIGHT_WARMUP" -duration "$LIGHT_DURATION"
		done
		if ((${#UNPINNED[@]})); then
			log "round $round of $ROUNDS: 1 connection, every process unpinned"
			set_affinity "0-$(($(nproc) - 1))" "${!PID_OF[@]}"
			PIN=0
			for c in "${UNPINNED[@]}"; do
				loadgen "$c" "$round" -conns 1 -warmup "$LIGHT_WARMUP" -duration "$LIGHT_DURATION"
			done
			PIN=1
			pin_again
		fi
		if ((${#ONECORE[@]})); then
			log "round $round of $ROUNDS: 1 connection, every process on CPU 0"
			set_affinity 0 "${!PID_OF[@]}"
			for c in "${ONECORE[@]}"; do
				loadgen "$c" "$round" -conns 1 -warmup "$LIGHT_WARMUP" -duration "$LIGHT_DURATION"
			done
			pin_again
		fi
		if ((${#SIDECARS[@]})); then
			log "round $round of $ROUNDS: unpinned, net/http sender, $SIDECAR_CONNS connections at $RATE req/s, $SIDECAR_WARMUP + $SIDECAR_DURATION, Sidekey's GODEBUG=$SIDECAR_GODEBUG${SIDEKEY_ENV_B:+ (build B: $SIDEKEY_ENV_B)}"
			[[ $PIN == 1 ]] && set_affinity "$ALL_CPUS" "${!PID_OF[@]}"
			pinned=$PIN
			PIN=0
			for c in "${SIDECARS[@]}"; do
				loadgen "$c" "$round" -sender nethttp -rate "$RATE" -conns "$SIDECAR_CONNS" \
					-warmup "$SIDECAR_WARMUP" -duration "$SIDECAR_DURATION"
			done
			PIN=$pinned
			[[ $PIN == 1 ]] && pin_again
		fi
	done
	((${#IDLE[@]})) && log "memory: $IDLE_CONNS idle keep-alive connections per proxy"
	for c in "${IDLE[@]}"; do
		loadgen "$c" 1 -mode idle -conns "$IDLE_CONNS" -settle 5s -setup-timeout 60s
	done
	COMMAND="make bench-proxy"
	if [[ $MODE == sidecar ]]; then
		COMMAND="make bench-proxy-sidecar"
		WARMUP=$SIDECAR_WARMUP DURATION=$SIDECAR_DURATION
	fi
fi
log "measured in $((SECONDS - START)) s"

# --- report ------------------------------------------------------------------------
ver() { "$@" 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -1 || true; }
cat >"$OUT/meta.json" <<EOF
{"command": "$COMMAND", "date": "$(date -u +%Y-%m-%dT%H:%MZ)",
 "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- proxy cmd injector vaultstore 2>/dev/null || echo +changes)",
 "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"//g')", "cores": $(nproc),
 "idle_before_pct": $IDLE_BEFORE, "pinned": $([[ $PIN == 1 ]] && echo true || echo false),
 "rounds": $([[ $MODE == soak ]] && echo 1 || echo "$ROUNDS"), "warmup": "$WARMUP", "duration": "$DURATION",
 "squid": "$(ver squid -v)", "mitmproxy": "$(ver mitmdump --version)", "go": "$(go env GOVERSION)"}
EOF
"$OUT/bin/report" -in "$OUT/results.jsonl" -meta "$OUT/meta.json" >"$OUT/report.md"
echo
cat "$OUT/report.md"
log "results: $OUT/results.jsonl, report: $OUT/report.md"
