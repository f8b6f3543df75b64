#!/bin/sh
# Starts one eventpaths host service in its Fly Machine (the image's CMD, see fly/Dockerfile).
#
# 1. Refuses to start when a secret the app needs is missing: REQUIRED_SECRETS (set in the
#    app's fly.toml [env]) lists their names; the values come from `fly secrets set`. A Machine
#    that exits at once makes `fly deploy` fail loudly, instead of an app that passes its health
#    check and then refuses every link with 401.
# 2. The gateway's certificate: the secrets TLS_CERT_B64 and TLS_KEY_B64 (base64 of the PEM
#    certificate chain and of its private key) are written to TLS_CERT_FILE and TLS_KEY_FILE
#    (paths set in fly.toml [env]), readable by this user only, and handed to the Quarkus TLS
#    registry (quarkus.tls.key-store.pem.0.cert/key). The app re-reads those files every
#    quarkus.tls.reload-period, so a certificate replaced in place needs no restart.
# 3. Replaces itself with the JVM: java $JAVA_OPTS [TLS properties] -jar $APP_HOME/quarkus-run.jar
set -eu

app_home="${APP_HOME:-/app}"

missing=""
for name in ${REQUIRED_SECRETS:-}; do
  case "$name" in
    *[!A-Za-z0-9_]* | [0-9]*) echo "eventpaths-start: bad name in REQUIRED_SECRETS: $name" >&2; exit 78 ;;
  esac
  eval "value=\${$name:-}"
  [ -n "$value" ] || missing="$missing $name"
done
value=""
if [ -n "$missing" ]; then
  echo "eventpaths-start: missing secrets:$missing" >&2
  echo "eventpaths-start: set them with: fly secrets set NAME=VALUE -a ${FLY_APP_NAME:-<app>} (see fly/README.md)" >&2
  exit 78
fi

set --
if [ -n "${TLS_CERT_B64:-}${TLS_KEY_B64:-}" ]; then
  : "${TLS_CERT_B64:?TLS_KEY_B64 is set but TLS_CERT_B64 is not}"
  : "${TLS_KEY_B64:?TLS_CERT_B64 is set but TLS_KEY_B64 is not}"
  : "${TLS_CERT_FILE:?set TLS_CERT_FILE in fly.toml [env]}"
  : "${TLS_KEY_FILE:?set TLS_KEY_FILE in fly.toml [env]}"
  umask 077
  mkdir -p "$(dirname "$TLS_CERT_FILE")" "$(dirname "$TLS_KEY_FILE")"
  # Written next to the target and renamed, so a reload never sees half a file.
  printf '%s' "$TLS_CERT_B64" | base64 -d > "$TLS_CERT_FILE.new" \
    || { echo "eventpaths-start: TLS_CERT_B64 is not base64" >&2; exit 78; }
  printf '%s' "$TLS_KEY_B64" | base64 -d > "$TLS_KEY_FILE.new" \
    || { echo "eventpaths-start: TLS_KEY_B64 is not base64" >&2; exit 78; }
  grep -q -- '-----BEGIN CERTIFICATE-----' "$TLS_CERT_FILE.new" \
    || { echo "eventpaths-start: TLS_CERT_B64 does not hold a PEM certificate" >&2; exit 78; }
  grep -q -- '-----BEGIN .*PRIVATE KEY-----' "$TLS_KEY_FILE.new" \
    || { echo "eventpaths-start: TLS_KEY_B64 does not hold a PEM private key" >&2; exit 78; }
  mv -f "$TLS_CERT_FILE.new" "$TLS_CERT_FILE"
  mv -f "$TLS_KEY_FILE.new" "$TLS_KEY_FILE"
  unset TLS_CERT_B64 TLS_KEY_B64
  # System properties: Quarkus does not map QUARKUS_TLS_KEY_STORE_PEM_0_CERT from the
  # environment (the "0" is a map key), so the paths go on the command line.
  set -- "-Dquarkus.tls.key-store.pem.0.cert=$TLS_CERT_FILE" "-Dquarkus.tls.key-store.pem.0.key=$TLS_KEY_FILE"
fi

# JAVA_OPTS is split on spaces on purpose (one JVM flag per word).
# shellcheck disable=SC2086
exec java ${JAVA_OPTS:-} "$@" -jar "$app_home/quarkus-run.jar"
