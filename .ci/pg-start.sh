#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server (Debian's package) for tests: a new cluster in a temp
# folder, on a free loopback port, trust auth for the local test user. Prints its JDBC URL on
# the last line. Stop it with: .ci/pg-stop.sh <folder> (printed too). Works as root (runs the
# server as the postgres user, which refuses to run as root).
#   .ci/pg-start.sh            -> prints "PGDIR=<dir>" and "jdbc:postgresql://127.0.0.1:<port>/tasks?user=postgres"
# Optional, for a server other hosts reach (the production-like run starts it in a network
# namespace of its own, .ci/prod-like-net.sh): PG_LISTEN="127.0.0.1,<address>" listens there
# too, and PG_ALLOW=<cidr> lets that network in (trust auth: a private test network only).
set -euo pipefail
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$bin/initdb" ] || { echo "pg-start: PostgreSQL is not installed (bash .ci/install-debian-deps.sh)" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || shuf -i 20000-60000 -n 1)
dir="$(mktemp -d /tmp/eventpaths-pg-XXXXXX)"
as=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; as=(runuser -u postgres --); fi
"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
if [ -n "${PG_ALLOW:-}" ]; then
  printf 'host all all %s trust\n' "$PG_ALLOW" >> "$dir/data/pg_hba.conf"
fi
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=${PG_LISTEN:-127.0.0.1} -c fsync=on -c synchronous_commit=on" start >/dev/null
"${as[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE tasks" >/dev/null
echo "PGDIR=$dir"
echo "jdbc:postgresql://127.0.0.1:$port/tasks?user=postgres"
