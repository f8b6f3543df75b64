#!/usr/bin/env bash
# The private network of the production-like run (guest/test/e2e/support/prod-like.mjs): one
# network namespace per instance, all on one bridge, like Fly's private network (6PN), where
# every Machine of the organization reaches every other by IPv6 and by `<app>.internal`.
#
#   .ci/prod-like-net.sh probe                      exit 0 if network namespaces work here (root)
#   .ci/prod-like-net.sh up RUN PREFIX HOSTS NS=ADDR...
#        bridge ep<RUN>br holding PREFIX::1/64 in this (the root) namespace, then for each NS:
#        a namespace, a veth pair (eth0 inside, on the bridge outside), ADDR/64 on eth0, lo up,
#        and /etc/netns/NS/hosts = the file HOSTS (`ip netns exec` bind-mounts it over
#        /etc/hosts, so names resolve only to what HOSTS declares: each `<app>.internal` to the
#        addresses of all its instances, like Fly's .internal DNS). No route leaves the
#        bridge's /64: no localhost shortcut between services, no other network.
#   .ci/prod-like-net.sh down RUN                   kills what runs in RUN's namespaces, removes
#        them, their /etc/netns folders, the bridge, RUN's PostgreSQL folder and state files
#   .ci/prod-like-net.sh sweep                      `down` for every run whose owner is gone
#
# RUN is 6 hex digits, new per run, so names never clash with a leftover. The owner (the Node
# process) writes its pid to $STATE/RUN.owner before `up`; `sweep` removes runs whose owner
# is no longer alive, and namespaces named like a run that has no owner file at all.
set -uo pipefail
STATE="${EVENTPATHS_PROD_LIKE_STATE:-/run/eventpaths-prod-like}"
cmd="${1:-}"; shift || true

valid_run() { [[ "$1" =~ ^[0-9a-f]{6}$ ]] || { echo "prod-like-net: bad RUN '$1' (6 hex digits)" >&2; exit 2; }; }

run_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^ep-$1-" || true; }

down() {
  local run="$1" ns pids i
  valid_run "$run"
  local all; all="$(run_namespaces "$run")"
  # Everything started inside the run's namespaces (the JVMs, PostgreSQL) goes first: a
  # namespace with processes in it would outlive `ip netns del`.
  for i in 1 2 3 4 5 6 7 8 9 10; do
    pids=""
    for ns in $all; do pids="$pids $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"; done
    pids="$(echo $pids)"
    [ -z "$pids" ] && break
    kill -KILL $pids 2>/dev/null
    sleep 0.3
  done
  for ns in $all; do
    ip netns del "$ns" 2>/dev/null
    rm -rf "/etc/netns/$ns"
  done
  ip link del "ep${run}br" 2>/dev/null
  if [ -s "$STATE/$run.pgdir" ]; then
    local pg; pg="$(cat "$STATE/$run.pgdir")"
    case "$pg" in /tmp/eventpaths-pg-*) rm -rf "$pg" ;; esac
  fi
  rm -f "$STATE/$run.owner" "$STATE/$run.pgdir"
}

case "$cmd" in
  probe)
    ns="ep-probe-$$"
    ip netns add "$ns" 2>/dev/null || exit 1
    ok=0
    ip netns exec "$ns" ip link set lo up 2>/dev/null || ok=1
    ip link add "epprobe$$" type bridge 2>/dev/null && ip link del "epprobe$$" || ok=1
    ip netns del "$ns"
    exit $ok
    ;;
  up)
    run="$1"; prefix="$2"; hosts="$3"; shift 3
    valid_run "$run"
    set -e
    br="ep${run}br"
    ip link add "$br" type bridge
    ip link set "$br" up
    # nodad: usable at once (no duplicate address detection wait); the prefix is random per run.
    ip -6 addr add "${prefix}::1/64" dev "$br" nodad
    k=0
    for spec in "$@"; do
      ns="${spec%%=*}"; addr="${spec#*=}"
      case "$ns" in ep-"$run"-*) ;; *) echo "prod-like-net: namespace $ns is not named ep-$run-..." >&2; exit 2 ;; esac
      ip netns add "$ns"
      ip link add "ep${run}v$k" type veth peer name "ep${run}p$k"
      ip link set "ep${run}p$k" netns "$ns"
      ip link set "ep${run}v$k" master "$br" up
      ip netns exec "$ns" ip link set lo up
      ip netns exec "$ns" ip link set "ep${run}p$k" name eth0
      ip netns exec "$ns" ip -6 addr add "$addr/64" dev eth0 nodad
      ip netns exec "$ns" ip link set eth0 up
      mkdir -p "/etc/netns/$ns"
      cp "$hosts" "/etc/netns/$ns/hosts"
      # No DNS server: names come from the hosts file only.
      printf '# eventpaths production-like run: names from /etc/hosts only\noptions attempts:1 timeout:1\n' \
        > "/etc/netns/$ns/resolv.conf"
      k=$((k + 1))
    done
    ;;
  down)
    down "${1:?usage: down RUN}"
    ;;
  sweep)
    mkdir -p "$STATE"
    for f in "$STATE"/*.owner; do
      [ -e "$f" ] || continue
      run="$(basename "$f" .owner)"
      pid="$(cat "$f" 2>/dev/null)"
      if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then continue; fi
      echo "prod-like-net: removing leftover run $run (owner $pid is gone)" >&2
      down "$run"
    done
    for run in $(ip netns list 2>/dev/null | awk '{print $1}' | sed -nE 's/^ep-([0-9a-f]{6})-.*/\1/p' | sort -u); do
      [ -e "$STATE/$run.owner" ] && continue
      echo "prod-like-net: removing leftover namespaces of run $run (no owner)" >&2
      down "$run"
    done
    for br in $(ip -o link show type bridge 2>/dev/null | sed -nE 's/^[0-9]+: (ep[0-9a-f]{6}br)[:@].*/\1/p'); do
      run="${br#ep}"; run="${run%br}"
      [ -e "$STATE/$run.owner" ] || ip link del "$br" 2>/dev/null
    done
    ;;
  *)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
