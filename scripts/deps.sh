#!/usr/bin/env bash
# Installs the system packages that the tests need, when they are missing.
# Debian packages only; run as root (CI and the dev machines are).
set -euo pipefail

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v node >/dev/null 2>&1 || need+=(nodejs) # the HTTP/2 sender tests (http2.connect)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)  # the image ships this bundle
/usr/bin/python3 -c 'import botocore' >/dev/null 2>&1 || need+=(python3-botocore)  # SigV4 signatures recomputed by botocore

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${need[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
