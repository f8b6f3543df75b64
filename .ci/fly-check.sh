#!/usr/bin/env bash
# Checks the Fly.io deployment (fly/, .github/workflows/deploy.yml) against the apps: the
# fly.toml files against each app's application.properties, fly/Dockerfile's start command
# run here without Docker against the packaged apps, and the workflows (fly/test/check.mjs
# says what exactly). Prints "fly: N passed, N failed"; exits non-zero on any failure.
#
#   bash .ci/fly-check.sh                   (FLY_CHECK_STATIC=1: skip running the apps)
#
# Needs Java 17, Node 20 and openssl; packages the apps first if target/quarkus-app is
# missing (offline, from the local Maven repository).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fly/test"
command -v openssl >/dev/null || bash "$root/.ci/install-debian-deps.sh" openssl
npm ci --no-audit --no-fund --loglevel=error
exec node check.mjs
