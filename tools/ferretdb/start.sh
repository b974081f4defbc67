#!/usr/bin/env bash
# start.sh builds the FerretDB launcher (this folder's own Go module) and
# starts it in the background, serving the MongoDB wire protocol on
# FERRETDB_LISTEN (default 127.0.0.1:27017) over PostgreSQL at
# FERRETDB_POSTGRES (default postgres://postgres@127.0.0.1:5432/ferretdb,
# a database the launcher creates when missing). It does nothing when the
# address already answers, and returns once it answers (or fails after
# FERRETDB_WAIT seconds, default 60). The binary, its log and its pid go
# to FERRETDB_DIR (default ${TMPDIR:-/tmp}/activitylog-ferretdb).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
listen="${FERRETDB_LISTEN:-127.0.0.1:27017}"
pg="${FERRETDB_POSTGRES:-postgres://postgres@127.0.0.1:5432/ferretdb}"
dir="${FERRETDB_DIR:-${TMPDIR:-/tmp}/activitylog-ferretdb}"
wait_s="${FERRETDB_WAIT:-60}"
host="${listen%:*}"
port="${listen##*:}"

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if answers; then
	echo "ferretdb: $listen already answers"
	exit 0
fi

mkdir -p "$dir"
echo "ferretdb: building launcher"
(cd "$here" && GOFLAGS=-mod=mod GOWORK=off go build -o "$dir/ferretdb" .)

echo "ferretdb: starting on $listen (log $dir/ferretdb.log)"
nohup "$dir/ferretdb" -listen "$listen" -postgres "$pg" >>"$dir/ferretdb.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/ferretdb.pid"

for _ in $(seq 1 $((wait_s * 5))); do
	if answers; then
		echo "ferretdb: $listen answers (pid $pid)"
		exit 0
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "ferretdb: exited before answering; last log lines:" >&2
		tail -n 20 "$dir/ferretdb.log" >&2
		exit 1
	fi
	sleep 0.2
done
echo "ferretdb: $listen did not answer within ${wait_s}s; last log lines:" >&2
tail -n 20 "$dir/ferretdb.log" >&2
exit 1
