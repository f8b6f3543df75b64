#!/usr/bin/env bash
# The eventpaths benchmark, in one command: builds what it needs (the library, the packaged echo
# app, the packaged gateway, the bench module), starts the peer servers as separate processes on
# free loopback ports, measures all peers in one run, prints the table, writes
# bench/results/latest.md and stops everything. Two suites: host-to-host links beside gRPC and
# raw Vert.x ("links"), and guest links through the gateway beside a Node.js http2 relay
# ("gateway"), then the guest runtime in Chromium beside the same browser against the relay
# ("browser": guest/bench/browser-bench.mjs). See bench/README.md.
#
#   bench/run.sh                          # every suite, full size
#   bench/run.sh -Dbench.suite=gateway    # one suite: codec, links, gateway or browser
#   bench/run.sh -Dbench.events=200000    # any -Dbench.* setting from the README
#   BENCH_SKIP_BUILD=1 bench/run.sh       # reuse the last build
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for arg in "$@"; do
  case "$arg" in
    -D*) ;;
    *) echo "usage: bench/run.sh [-Dbench.<setting>=<value> ...]  (see bench/README.md)" >&2; exit 2 ;;
  esac
done

if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
  echo "bench: building core, the echo app, the gateway and bench (skip with BENCH_SKIP_BUILD=1)" >&2
  build=(-B -q install -DskipTests -pl read-services/echo,gateway,bench -am)
  # Offline first (fast, no network); online only when something is not in the local repository yet.
  if ! ./mvnw -o "${build[@]}" >/tmp/eventpaths-bench-build.log 2>&1; then
    if grep -q "offline mode" /tmp/eventpaths-bench-build.log; then
      ./mvnw "${build[@]}"
    else
      cat /tmp/eventpaths-bench-build.log >&2
      exit 1
    fi
  fi
fi

# The gateway and the Node relay serve HTTPS with the development certificate (made once).
bash .ci/dev-cert.sh

suite=all
out="$root/bench/results/latest.md"
for arg in "$@"; do
  case "$arg" in
    -Dbench.suite=*) suite="${arg#-Dbench.suite=}" ;;
    -Dbench.out=*) out="${arg#-Dbench.out=}" ;;
  esac
done

if [[ "$suite" != browser ]]; then
  cp="bench/target/classes:$(cat bench/target/classpath.txt)"
  # The JBoss log manager (on the classpath through the library) handles java.util.logging, quietly.
  java -Xms1g -Xmx2g -Djava.util.logging.manager=org.jboss.logmanager.LogManager -cp "$cp" -Dbench.root="$root" "$@" \
    dev.eventpaths.bench.Bench
fi
[[ "$suite" == all || "$suite" == browser ]] || exit 0

# The browser suite: Chromium (Debian's, or $CHROMIUM) driving the guest runtime against the
# gateway and echo just built, beside the same browser against the Node relay. Its table goes
# after the others in the report (alone, for -Dbench.suite=browser).
chromium="${CHROMIUM:-/usr/bin/chromium}"
section="## Browser: the guest runtime in Chromium (guest/bench/browser-bench.mjs)"
if [[ ! -x "$chromium" ]]; then
  echo "bench: no Chromium at $chromium (apt-get install chromium, or CHROMIUM=/path): browser suite skipped" >&2
  [[ "$suite" == browser ]] && exit 1
  printf '\n%s\n\nSkipped: no Chromium at %s.\n' "$section" "$chromium" >>"$out"
  exit 0
fi
if [[ ! -d guest/node_modules/playwright-core ]]; then
  (cd guest && npm ci --no-audit --no-fund --silent)
fi
table="$(cd guest && node bench/browser-bench.mjs)"
printf '%s\n' "$table"
if [[ "$suite" == browser ]]; then
  printf '%s\n\n%s\n' "$section" "$table" >"$out"
else
  printf '\n%s\n\n%s\n' "$section" "$table" >>"$out"
fi
echo "bench: browser figures written to $out" >&2
