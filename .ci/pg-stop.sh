#!/usr/bin/env bash
# Stops and removes a server started by .ci/pg-start.sh: .ci/pg-stop.sh <PGDIR>
set -uo pipefail
dir="$1"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
as=(); [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
rm -rf "$dir"
