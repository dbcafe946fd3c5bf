#!/usr/bin/env bash
# make demo: Sidekey's main job end to end, on loopback only.
#
# Starts a dev Vault, `sidekey admin`, `sidekey proxy` and a TLS echo
# upstream; creates one secret of each type through the admin API; sends a
# templated request through the proxy with curl (CONNECT, trusting the
# Sidekey CA); shows the request as the sender wrote it, as the upstream
# received it, and as the sender got the answer back (scrubbed); then rotates
# and archives a secret and shows the effect. Everything started here is
# stopped on exit or Ctrl-C.
#
# Ports: DEMO_PORT_BASE (default 18000) + 80 proxy, +81 admin, +90/+91 their
# metrics, +200 Vault, +443 upstream, +444 a local OAuth2 token endpoint (the
# derived-credential step).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/bin
BASE=${DEMO_PORT_BASE:-18000}
P_PROXY=$((BASE + 80)) P_ADMIN=$((BASE + 81)) P_PMET=$((BASE + 90)) P_AMET=$((BASE + 91))
P_VAULT=$((BASE + 200)) P_ECHO=$((BASE + 443)) P_TOKEN=$((BASE + 444))
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sidekey-demo.XXXXXX")
PIDS=()

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

cleanup() {
	local code=$?
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ $code -ne 0 ]; then
		printf '\ndemo: failed (exit %d); logs kept in %s\n' "$code" "$WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in $P_PROXY $P_ADMIN $P_PMET $P_AMET $P_VAULT $P_ECHO $P_TOKEN; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		die "port $p on 127.0.0.1 is in use; set DEMO_PORT_BASE to another base"
	fi
done
command -v curl >/dev/null || die "curl is missing (make deps installs it)"

# wait_http URL: until it answers 200, at most 60 s.
wait_http() {
	for _ in $(seq 1 240); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.25
	done
	die "$1 did not become ready (logs in $WORK)"
}

bold "Build"
go build -o "$BIN/echoserver" ./tools/echoserver
go build -o "$BIN/tokenserver" ./tools/tokenserver
note "bin/sidekey, bin/vaultdev (dev only; Vault is BUSL-licensed), bin/echoserver, bin/tokenserver"

bold "Start a dev Vault on 127.0.0.1:$P_VAULT"
ROOT_TOKEN=demo-root-$RANDOM$RANDOM
"$BIN/vaultdev" -listen "127.0.0.1:$P_VAULT" -root-token "$ROOT_TOKEN" >"$WORK/vault.log" 2>&1 &
PIDS+=($!)
export VAULT_ADDR=http://127.0.0.1:$P_VAULT
wait_http "$VAULT_ADDR/v1/sys/health"

vault_api() { # METHOD PATH [JSON]
	curl -fsS -X "$1" -H "X-Vault-Token: $ROOT_TOKEN" ${3:+-d "$3"} "$VAULT_ADDR/v1/$2"
}
json_str() { python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'; }
for role in admin sidecar; do
	vault_api PUT "sys/policies/acl/sidekey-$role" "{\"policy\": $(json_str <"deploy/vault/$role.hcl")}" >/dev/null
	vault_api POST auth/token/create "{\"policies\":[\"sidekey-$role\"],\"no_default_policy\":true,\"ttl\":\"1h\",\"renewable\":true}" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["auth"]["client_token"])' >"$WORK/$role.vault-token"
done
note "policies deploy/vault/admin.hcl and sidecar.hcl; one token of each (not root)"

bold "Keys: admin JWT key, tenant key, Sidekey CA"
head -c 32 /dev/urandom | base64 >"$WORK/jwt.key"
head -c 32 /dev/urandom | base64 >"$WORK/tenant.key"
chmod 600 "$WORK/jwt.key" "$WORK/tenant.key"
"$BIN/sidekey" ca init --out "$WORK/ca" >/dev/null
note "sidekey ca init --out \$WORK/ca  → ca.crt, ca.key"

bold "Start the echo upstream (https://localhost:$P_ECHO), sidekey admin (:$P_ADMIN) and sidekey proxy (:$P_PROXY)"
"$BIN/echoserver" -listen "127.0.0.1:$P_ECHO" -ca-out "$WORK/upstream-ca.crt" -log "$WORK/upstream.jsonl" >"$WORK/echo.log" 2>&1 &
PIDS+=($!)
"$BIN/sidekey" admin --listen "127.0.0.1:$P_ADMIN" --metrics-listen "127.0.0.1:$P_AMET" \
	--jwt-hs256-key-file "$WORK/jwt.key" --vault-token-file "$WORK/admin.vault-token" >"$WORK/admin.log" 2>&1 &
PIDS+=($!)
"$BIN/tokenserver" -listen "127.0.0.1:$P_TOKEN" -ca-out "$WORK/token-ca.crt" -key-out "$WORK/service-account.json" >"$WORK/token.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 40); do [ -s "$WORK/upstream-ca.crt" ] && [ -s "$WORK/service-account.json" ] && break; sleep 0.25; done
cat "$WORK/upstream-ca.crt" "$WORK/token-ca.crt" >"$WORK/upstream-roots.pem"
"$BIN/sidekey" proxy --listen "127.0.0.1:$P_PROXY" --metrics-listen "127.0.0.1:$P_PMET" \
	--ca-cert "$WORK/ca/ca.crt" --ca-key "$WORK/ca/ca.key" --tenant-key-file "$WORK/tenant.key" \
	--upstream-ca "$WORK/upstream-roots.pem" --allow-upstream-cidr 127.0.0.0/8 \
	--vault-token-file "$WORK/sidecar.vault-token" >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$P_ADMIN/readyz"
wait_http "http://127.0.0.1:$P_PMET/readyz"
note "all ready"

ORG=acme DOMAIN=alerts
API="http://127.0.0.1:$P_ADMIN/v1/orgs/$ORG/domains/$DOMAIN"
ADMIN_JWT=$("$BIN/sidekey" token admin --key-file "$WORK/jwt.key" --role domain_admin --org $ORG --domain $DOMAIN --sub demo-admin --ttl 15m)
PROXY_USER=$("$BIN/sidekey" token proxy --key-file "$WORK/tenant.key" --org $ORG --domain $DOMAIN)

admin() { # METHOD PATH [JSON] → prints status and body
	curl -sS -X "$1" -H "Authorization: Bearer $ADMIN_JWT" -H 'Content-Type: application/json' \
		${3:+-d "$3"} -w '  → HTTP %{http_code}\n' "$API$2"
}

bold "Create one secret of each type through the admin API (a domain admin's token)"
admin POST /secrets '{"alias":"weather_fx","type":"token","value":{"token":"wx-3f9a1c77d2e84b6a"},"allowed_hosts":["localhost"]}'
admin POST /secrets '{"alias":"smtp_login","type":"username_password","value":{"username":"mailer","password":"p@ss w0rd&<ok>"}}'
admin POST /secrets '{"alias":"Twilio_Cfg","type":"json","value":{"json":{"account_sid":"AC7e1d","region":"eu-1","retries":3}}}'

bold "The list (values are write-only: nothing in it can reveal them)"
admin GET /secrets
bold "The Macro Manager's Secrets category"
admin GET /macros

send() {
	: >"$WORK/upstream.jsonl"
	curl -sS -g --proxy "http://127.0.0.1:$P_PROXY" --proxy-user "$PROXY_USER" --cacert "$WORK/ca/ca.crt" \
		-H 'Authorization: Bearer {{secrets.weather_fx}}' \
		-H 'Content-Type: application/json' \
		-d '{"to":"+15550100","auth":"{{secrets.smtp_login | basic}}","user":"{{ secrets.smtp_login.username }}","twilio":{{secrets.twilio_cfg}},"region":"{{secrets.twilio_cfg.region}}"}' \
		-D "$WORK/resp.headers" -o "$WORK/resp.body" -w '%{http_code}' \
		"https://localhost:$P_ECHO/v1/forecast/{{secrets.weather_fx}}?units=metric&key={{secrets.weather_fx}}"
}

bold "The sender's request, as written in its template"
cat <<EOF
   POST https://localhost:$P_ECHO/v1/forecast/{{secrets.weather_fx}}?units=metric&key={{secrets.weather_fx}}
   Authorization: Bearer {{secrets.weather_fx}}
   Content-Type: application/json

   {"to":"+15550100","auth":"{{secrets.smtp_login | basic}}","user":"{{ secrets.smtp_login.username }}","twilio":{{secrets.twilio_cfg}},"region":"{{secrets.twilio_cfg.region}}"}
EOF
status=$(send)
[ "$status" = 200 ] || { cat "$WORK/resp.body"; die "request through the proxy answered $status"; }

bold "The same request as the upstream received it (CONNECT + TLS through sidekey proxy)"
python3 - "$WORK/upstream.jsonl" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
print(f"   {r['method']} https://{r['host']}{r['uri']}")
print(f"   Authorization: {r['headers'].get('Authorization')}")
print(f"   Content-Type: {r['headers'].get('Content-Type')}")
print(f"   Content-Length: {r['headers'].get('Content-Length', '(chunked)')}")
print()
print("   " + r["body"])
assert "{{" not in r["body"] + r["uri"], "a placeholder reached the upstream"
EOF

bold "What the sender got back: the upstream echoed the values, the proxy scrubbed them"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("   uri:  ", r["uri"]); print("   auth: ", r["headers"].get("Authorization")); print("   body: ", r["body"])' "$WORK/resp.body"

bold "Rotate weather_fx through the admin API; the sidecar follows the change feed"
admin PUT /secrets/weather_fx '{"value":{"token":"wx-ROTATED-88e1f0b2"},"allowed_hosts":["localhost"]}'
for _ in $(seq 1 20); do
	sleep 0.25
	send >/dev/null
	grep -q 'wx-ROTATED-88e1f0b2' "$WORK/upstream.jsonl" && break
done
grep -q 'wx-ROTATED-88e1f0b2' "$WORK/upstream.jsonl" || die "the rotated value did not reach the upstream"
python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print("   upstream now receives Authorization:", r["headers"]["Authorization"])' "$WORK/upstream.jsonl"

bold "Archive smtp_login; the proxy now fails closed and the upstream receives nothing"
printf '   '; admin DELETE /secrets/smtp_login
for _ in $(seq 1 20); do
	sleep 0.25
	status=$(send)
	[ "$status" != 200 ] && break
done
note "HTTP $status, Sidekey-Error: $(grep -i '^sidekey-error:' "$WORK/resp.headers" | cut -d' ' -f2 | tr -d '\r')"
note "body: $(cat "$WORK/resp.body")"
note "requests the upstream received for it: $(wc -l <"$WORK/upstream.jsonl")"
[ "$status" = 422 ] || die "expected 422 secret_not_found after archive, got $status"
[ ! -s "$WORK/upstream.jsonl" ] || die "a request with an archived secret reached the upstream"

bold "A derived credential: an access token minted from a service-account key"
note "a local Google-style token endpoint (https://localhost:$P_TOKEN/token) checks each RS256 assertion"
SA_JSON=$(cat "$WORK/service-account.json")
printf '   '; admin POST /secrets "{\"alias\":\"fcm\",\"type\":\"json\",\"kind\":\"google_service_account\",\"value\":{\"json\":$SA_JSON}}"
FCM_REF='{{secrets.fcm | google_access_token("https://www.googleapis.com/auth/firebase.messaging")}}'
note "the sender writes:  Authorization: Bearer $FCM_REF"
: >"$WORK/upstream.jsonl"
status=$(curl -sS -g --proxy "http://127.0.0.1:$P_PROXY" --proxy-user "$PROXY_USER" --cacert "$WORK/ca/ca.crt" \
	-H "Authorization: Bearer $FCM_REF" -H 'Content-Type: application/json' \
	-d '{"message":{"token":"device-token","notification":{"title":"hi"}}}' \
	-o "$WORK/resp.body" -w '%{http_code}' "https://localhost:$P_ECHO/v1/projects/demo/messages:send")
[ "$status" = 200 ] || { cat "$WORK/resp.body"; die "the derived-credential request answered $status"; }
python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print("   the upstream received: Authorization:", r["headers"]["Authorization"][:40] + "…")' "$WORK/upstream.jsonl"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("   the sender got back:   Authorization:", r["headers"].get("Authorization"))' "$WORK/resp.body"
grep -q 'ya29\.' "$WORK/upstream.jsonl" || die "the upstream did not receive a minted token"
! grep -q 'ya29\.' "$WORK/resp.body" || die "the minted token reached the sender"
note "token exchanges so far: $(curl -fsS "http://127.0.0.1:$P_PMET/metrics" | grep '^sidekey_credential_exchanges_total' | tr '\n' ' ')"

bold "Done: every process is stopped on exit. The web UI is served by sidekey admin at / (see README)."
