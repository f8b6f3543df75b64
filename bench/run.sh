#!/usr/bin/env bash
# The eventpaths benchmark, in one command: builds what it needs (the library, the packaged echo
# app, the packaged gateway, the bench module), starts the peer servers as separate processes on
# free loopback ports, measures all peers in one run, prints the table, writes
# bench/results/latest.md and stops everything. Two suites: host-to-host links beside gRPC and
# raw Vert.x ("links"), and guest links through the gateway beside a Node.js http2 relay
# ("gateway"). See bench/README.md.
#
#   bench/run.sh                          # both suites, full size
#   bench/run.sh -Dbench.suite=gateway    # one suite: links or gateway
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

cp="bench/target/classes:$(cat bench/target/classpath.txt)"
# The JBoss log manager (on the classpath through the library) handles java.util.logging, quietly.
exec java -Xms1g -Xmx2g -Djava.util.logging.manager=org.jboss.logmanager.LogManager -cp "$cp" -Dbench.root="$root" "$@" \
  dev.eventpaths.bench.Bench
