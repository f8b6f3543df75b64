#!/usr/bin/env bash
# The board bench (issue 5, "Measure it"): acknowledged commands/s through the gateway and
# change-to-screen between two Chromium browsers, against the system .ci/start starts.
# Needs the packaged jars (./mvnw -q -B package -DskipTests), Node 20, Chromium and
# guest/node_modules (cd guest && npm ci). Options pass through, e.g. --smoke.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec node "$root/guest/bench/board-bench.mjs" "$@"
