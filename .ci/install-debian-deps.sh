#!/usr/bin/env bash
# Installs what the test suite needs from Debian: Chromium (browser tests) and its driver,
# PostgreSQL (the shared-store tests), openssl/keytool helpers for the dev certificate, and
# iproute2 (network namespaces for the production-like run).
# Idempotent: installs only what is missing. Needs root (CI runs as root) or sudo.
set -euo pipefail
# With arguments, installs just those packages if missing (e.g. `openssl` for .ci/start).
if [ $# -gt 0 ]; then
  missing=(); for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && exit 0
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v certutil >/dev/null 2>&1 || need+=(libnss3-tools)
# ip (network namespaces for the production-like run; without it, it falls back to loopback addresses)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -x /usr/lib/postgresql/*/bin/postgres ] 2>/dev/null || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing from Debian: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
