#!/usr/bin/env bash
# Proves live reload: starts the echo service in Quarkus dev mode, adds a new service to its
# source tree, and sees the new service answer on the next request, with no restart.
# Needs the library installed (./mvnw install). Prints "devmode: N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/read-services/echo"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nonce="live$(date +%s%N | tail -c 7)"
src="$dir/src/main/java/dev/eventpaths/echo/DevModeProbe${nonce}.java"
log="$(mktemp)"
passed=0; failed=0
check() { if [ "$1" = 0 ]; then passed=$((passed + 1)); echo "ok: $2"; else failed=$((failed + 1)); echo "FAILED: $2"; fi; }
cleanup() { rm -f "$src"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

( cd "$dir" && exec "$root/mvnw" -q -B quarkus:dev -Dquarkus.http.port="$port" -Ddebug=false \
    -Dquarkus.console.enabled=false -Dquarkus.http.ssl-port=0 > "$log" 2>&1 ) &
pid=$!
link() { curl -s -m 30 --http2-prior-knowledge -X POST -H 'authorization: Bearer dev-only-link-secret' \
    --data-binary '' "http://127.0.0.1:$port/links/$1"; }
for _ in $(seq 1 360); do
  curl -fs "http://127.0.0.1:$port/q/health/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
link "$nonce" | grep -q unknown_service
check $? "before the change, /links/$nonce is unknown"

cat > "$src" <<JAVA
package dev.eventpaths.echo;

import dev.eventpaths.Event;
import dev.eventpaths.EventService;
import dev.eventpaths.HostService;
import dev.eventpaths.LinkContext;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;

@ApplicationScoped
@HostService("$nonce")
public class DevModeProbe${nonce} implements EventService {
  @Override
  public Multi<Event> apply(Multi<Event> in, LinkContext link) {
    return Multi.createFrom().item(Event.of("live.reloaded"));
  }
}
JAVA
out=""
for _ in $(seq 1 6); do out="$(link "$nonce")"; echo "$out" | grep -q live.reloaded && break; sleep 2; done
echo "$out" | grep -q live.reloaded
check $? "after adding a service, the next request reaches it (live reload, same process $pid)"
kill -0 "$pid" 2>/dev/null
check $? "the dev-mode process was not restarted"
[ $failed -gt 0 ] && { echo "--- dev mode log:"; tail -40 "$log"; }
echo "devmode: $passed passed, $failed failed"
[ $failed -eq 0 ]
