#!/usr/bin/env bash
# Makes the development TLS material, once: a throwaway local CA and a server certificate for
# localhost / 127.0.0.1 / ::1 signed by it. Browsers and tests trust the CA (ca.crt), the
# servers present server.crt + server.key. Nothing here is a secret worth keeping: the CA key
# never leaves this folder, and the folder is git-ignored. Re-run with --force to renew.
#
#   .ci/dev-cert.sh [DIR] [--force]      (DIR defaults to .certs at the repo root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/.certs}"
[ "${1:-}" = "--force" ] && dir="$root/.certs"
force=0; for a in "$@"; do [ "$a" = "--force" ] && force=1; done
mkdir -p "$dir"
if [ $force -eq 0 ] && [ -s "$dir/server.crt" ] && [ -s "$dir/ca.crt" ] \
   && openssl x509 -checkend 86400 -noout -in "$dir/server.crt" >/dev/null 2>&1; then
  exit 0
fi
command -v openssl >/dev/null || { echo "dev-cert: openssl is needed (apt-get install openssl)" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 \
  -subj "/CN=eventpaths development CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
  -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
cat > "$tmp/ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
  -days 365 -sha256 -extfile "$tmp/ext" -out "$tmp/server.crt" 2>/dev/null
cp "$tmp/ca.crt" "$tmp/ca.key" "$tmp/server.crt" "$tmp/server.key" "$dir/"
chmod 600 "$dir/ca.key" "$dir/server.key"
echo "dev-cert: made $dir/server.crt (localhost, 127.0.0.1, ::1) signed by $dir/ca.crt"
