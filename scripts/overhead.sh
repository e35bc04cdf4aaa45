#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What recording costs a real HTTP service: wrk against canary-demo-server with recording on and
# off (POST /demo/control flips it in every worker), alternating, TRIALS times each; prints each
# trial and the medians. Not a CI check: docs/benchmarks.md keeps the figures.
#   scripts/overhead.sh [TRIALS (5)] [SECONDS per trial (10)]
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-5}
seconds=${2:-10}
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target canary-ctl canary-aggregator canary-demo-server >/dev/null

segment=canary-overhead
port=${OVERHEAD_PORT:-18480}
app=http://127.0.0.1:$port
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  build/shm_tools/canary-ctl --segment "$segment" destroy >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

build/shm_tools/canary-ctl --segment "$segment" init --force >/dev/null
build/shm_tools/canary-aggregator --segment "$segment" --listen 127.0.0.1:0 >"$work/aggregator.log" 2>&1 &
pids+=($!)
build/examples/canary-demo-server --segment "$segment" --port "$port" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/server.log" && break; sleep 0.1; done

# One wrk thread: the machine's other cores serve. No simulated work: the request is as cheap as
# the HTTP library makes it, so recording's share of it is as large as it gets.
trial() {  # trial on|off: requests per second
  local recording=false
  [ "$1" = on ] && recording=true
  curl -s -X POST "$app/demo/control" -d "{\"recording\": $recording}" >/dev/null
  wrk -t1 -c16 -d "${seconds}s" -s scripts/wrk-users.lua "$app" | sed -n 's/^Requests\/sec: *//p'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

trial on >/dev/null  # warm-up
on=() off=()
for i in $(seq "$trials"); do
  on+=("$(trial on)")
  off+=("$(trial off)")
  echo "trial $i: recording on ${on[-1]} req/s, off ${off[-1]} req/s"
done
median_on=$(printf '%s\n' "${on[@]}" | median)
median_off=$(printf '%s\n' "${off[@]}" | median)
echo "median: on $median_on req/s, off $median_off req/s, on/off $(awk -v a="$median_on" -v b="$median_off" 'BEGIN { printf "%.2f%%", 100 * a / b }')"
