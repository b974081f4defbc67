#!/usr/bin/env bash
# ratios.sh runs a set of Go benchmarks in rounds and reports each one's
# ns/op (and any custom metric) as a ratio to a baseline measured in the
# same round, with the min, median and max over the rounds. Rounds
# alternate the benchmarks (A B C … A B C …), so machine drift cancels.
#
#   bench/ratios.sh ROUNDS PACKAGE BENCH_REGEX BASELINE_NAME [BENCHTIME] [METRIC]
#
# BASELINE_NAME is the benchmark's name as printed, without the -N
# suffix (e.g. BenchmarkBare or BenchmarkCapture/bare). METRIC is the
# unit to compare, default ns/op; events/s compares throughput.
set -euo pipefail
rounds=$1 pkg=$2 re=$3 base=$4 benchtime=${5:-1s} metric=${6:-ns/op}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq 1 "$rounds"); do
  go test -run '^$' -bench "$re" -benchtime "$benchtime" -count 1 "$pkg" |
    awk -v r="$r" '/^Benchmark/ { name=$1; sub(/-[0-9]+$/, "", name); line=name; for (i=2; i<=NF; i++) line=line" "$i; print r" "line }' >>"$out"
done
awk -v base="$base" -v metric="$metric" '
function val(    i) { for (i = 3; i <= NF; i++) if ($(i+1) == metric) return $i; return "" }
function allocs(    i) { for (i = 3; i <= NF; i++) if ($(i+1) == "allocs/op") return $i; return "-" }
{ v = val(); if (v == "") next; round = $1; name = $2
  value[round, name] = v; alloc[name] = allocs()
  if (!(name in seen)) { seen[name] = 1; order[++n] = name } }
END {
  printf "%-44s %14s %10s %10s %10s %10s\n", "benchmark", "median " metric, "ratio min", "median", "max", "allocs/op"
  for (k = 1; k <= n; k++) {
    name = order[k]; m = 0; delete rs; delete vs
    for (key in value) { split(key, p, SUBSEP); if (p[2] != name) continue
      b = value[p[1], base]; if (b == "" || b == 0) continue
      rs[++m] = value[key] / b; vs[m] = value[key] }
    if (m == 0) continue
    asort(rs); asort(vs)
    printf "%-44s %14.1f %10.2f %10.2f %10.2f %10s\n", name, vs[int((m+1)/2)], rs[1], rs[int((m+1)/2)], rs[m], alloc[name]
  }
}' "$out"
