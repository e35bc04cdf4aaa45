#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What the C ABI costs over the inlined C++ calls (docs/c-api.md, docs/benchmarks.md): one run of
# canary-bench on one CPU (taskset), BM_CRouteRecord and BM_CxxRouteRecord interleaved at random,
# REPETITIONS each; prints the medians, the median of the paired differences (each C repetition
# against the C++ one of the same rank, next to it in time) and the minima (the repetitions a
# noisy host disturbed least).
#   scripts/c-abi-overhead.sh [REPETITIONS (30)] [CPU (1)]      (after a build: build/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
repetitions=${1:-30} cpu=${2:-1}
bench=build/bench/canary-bench
[ -x "$bench" ] || { echo "build the benchmarks first (cmake --build build)"; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
taskset -c "$cpu" "$bench" --benchmark_filter='^BM_C(xx)?RouteRecord$' --benchmark_repetitions="$repetitions" \
  --benchmark_enable_random_interleaving=true --benchmark_min_time=0.1 --benchmark_format=json >"$out" 2>/dev/null
python3 - "$out" <<'PY'
import json, statistics, sys
runs = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("run_type") == "iteration"]
# Google Benchmark lists the repetitions in the order they ran: each C one is paired with the C++ one of the same rank.
order = runs
c = [b["cpu_time"] for b in order if b["name"].startswith("BM_CRouteRecord")]
cxx = [b["cpu_time"] for b in order if b["name"].startswith("BM_CxxRouteRecord")]
pairs = [a - b for a, b in zip(c, cxx)]
print(f"BM_CxxRouteRecord median {statistics.median(cxx):.1f} ns, BM_CRouteRecord median {statistics.median(c):.1f} ns "
      f"({len(c)} repetitions each, interleaved)")
print(f"C minus C++: {statistics.median(c) - statistics.median(cxx):+.1f} ns between medians, "
      f"{statistics.median(pairs):+.1f} ns median of paired differences, "
      f"{min(c) - min(cxx):+.1f} ns between minima ({min(cxx):.1f} and {min(c):.1f} ns)")
PY
