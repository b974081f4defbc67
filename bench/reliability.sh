#!/usr/bin/env bash
# reliability.sh runs the full reliability tests (package reliability):
# 60 s of load on each store and overload policy, a 30 s PostgreSQL
# outage, the kill -9, disk-full and clock-jump faults. CI runs the same
# tests shortened (go test ./reliability/, 3 s each). It prints each
# test's machine-readable result lines, and exits non-zero when a test
# fails, as when an event is lost.
#
#   bench/reliability.sh [SECONDS] [OUTAGE_SECONDS] [RATE]
#
# Defaults: 60, 30, 300 requests a second for the sustained load. The
# PostgreSQL tests run when their variables are set; the defaults below
# are this machine's (see .ci/run). The full run takes about 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export ACTIVITYLOG_TEST_RELIABILITY_SECONDS="${1:-60}"
export ACTIVITYLOG_TEST_RELIABILITY_OUTAGE="${2:-30}"
export ACTIVITYLOG_TEST_RELIABILITY_RATE="${3:-300}"
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  export ACTIVITYLOG_TEST_POSTGRES_DSN="${ACTIVITYLOG_TEST_POSTGRES_DSN:-host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable}"
fi
if [ -z "${ACTIVITYLOG_TEST_POSTGRES_BIN:-}" ] && [ -d /etc/postgresql ]; then
  export ACTIVITYLOG_TEST_POSTGRES_BIN="/usr/lib/postgresql/$(ls /etc/postgresql | head -1)/bin"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown); $(nproc) CPUs"
status=0
go test -count=1 -v -timeout 60m ./reliability/ >"$out" 2>&1 || status=$?
grep -E '^\s+\S+\.go:[0-9]+: ' "$out" | sed 's/^ *//' || true
grep -E '^(--- |ok|FAIL|PASS)' "$out" || true
if [ "$status" -ne 0 ]; then
  echo "reliability tests FAILED; full output follows" >&2
  cat "$out" >&2
fi
exit "$status"
