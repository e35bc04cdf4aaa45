#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The end-to-end demo: installs what is missing and builds, then on a segment of its own starts the
# aggregator and the pre-forked demo server, drives HTTP load at both versions with wrk, shows the
# seed's metrics, injects a canary regression and shows the aggregator roll it back by itself.
# Everything it starts is stopped at the end. Ports: DEMO_PORT (8080) and DEMO_ADMIN_PORT (8081).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target canary-ctl canary-shm-dump canary-aggregator canary-demo-server >/dev/null

segment=canary-demo
port=${DEMO_PORT:-8080}
admin=127.0.0.1:${DEMO_ADMIN_PORT:-8081}
app=http://127.0.0.1:$port
workers=$(nproc)
threads=8
connections=$((workers * threads))
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  build/shm_tools/canary-ctl --segment "$segment" destroy 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
run() { echo "\$ $*"; "$@"; }
ctl() { build/shm_tools/canary-ctl --segment "$segment" "$@"; }
wait_for() {  # wait_for FILE TEXT: up to 10 s for a process to say it is ready
  for _ in $(seq 100); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  echo "demo: $1 never said '$2':"; cat "$1"; exit 1
}
wrk_load() {  # wrk_load SECONDS, in a subshell: it becomes wrk, so killing its pid stops wrk
  exec wrk -t "$workers" -c "$connections" -d "$1s" -s scripts/wrk-users.lua "$app"
}

say "1. A shared-memory segment: the seed's seven endpoints, 5% of users on the canary"
ctl init --force
ctl status | grep -E '^(enabled|canary_percentage|state|endpoint\.[1-7]):'

say "2. The aggregator (judges every 0.5 s) and the demo server ($workers pre-forked workers)"
build/shm_tools/canary-aggregator --segment "$segment" --listen "$admin" --interval-ms 500 \
  --state-dir "$work" >"$work/aggregator.log" 2>&1 &
pids+=($!)
wait_for "$work/aggregator.log" listening
# 1 ms of simulated work a request, so latencies look like a service's.
build/examples/canary-demo-server --segment "$segment" --port "$port" --workers "$workers" \
  --threads "$threads" --work-us 1000 >"$work/server.log" 2>&1 &
pids+=($!)
wait_for "$work/server.log" listening
cat "$work/aggregator.log" "$work/server.log"

say "3. The seed's curl example; X-Canary-Version forces a version for a manual test"
echo "\$ curl -X POST $app/api/v2/recommend/personalized -H 'Content-Type: application/json' \\"
echo "    -d '{\"user_id\": \"test_canary_user\", \"query\": \"test query\"}'"
curl -s -X POST "$app/api/v2/recommend/personalized" -H "Content-Type: application/json" \
  -d '{"user_id": "test_canary_user", "query": "test query"}'
echo "\$ curl ... -H 'X-Canary-Version: canary' (same request)"
curl -s -X POST "$app/api/v2/recommend/personalized" -H "Content-Type: application/json" \
  -H "X-Canary-Version: canary" -d '{"user_id": "test_canary_user", "query": "test query"}'

say "4. wrk: 10 s of traffic from 100,000 users over the seven endpoints (scripts/wrk-users.lua)"
wrk_load 10 | grep -E 'Latency|Requests/sec|requests in|Non-2xx'
sleep 1.2  # two aggregator intervals: drained, digested, published

say "5. The seed's metrics JSON (the seed's admin URL, answered by the demo server from shared memory)"
run curl -s "$app/api/v2/admin/canary/metrics"
echo "(the aggregator serves the same at http://$admin/api/v2/admin/canary/metrics, and /metrics for Prometheus)"

say "6. Inject a canary regression: 10% of canary requests fail and each takes 20 ms longer"
echo "\$ curl -X POST $app/demo/control -d '{\"canary_error_rate\": 0.10, \"canary_extra_latency_ms\": 20}'"
curl -s -X POST "$app/demo/control" -d '{"canary_error_rate": 0.10, "canary_extra_latency_ms": 20}'
echo "wrk goes on sending traffic; canary-ctl status is polled every 0.1 s"
wrk_load 30 >"$work/wrk.log" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
started=$(date +%s%N)
for _ in $(seq 300); do
  [ "$(ctl status | sed -n 's/^state: //p')" = rolled_back ] && break
  sleep 0.1
done
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
kill "$wrk_pid" 2>/dev/null || true
if [ "$(ctl status | sed -n 's/^state: //p')" != rolled_back ]; then
  echo "demo: the canary was not rolled back within 30 s"
  exit 1
fi
echo "The aggregator proved the canary worse than its SLOs and rolled it back by itself,"
echo "${elapsed_ms} ms after the regression began. Share, state, reason and the event:"
echo "\$ canary-ctl status"
ctl status | grep -E '^(canary_percentage|state|state_reason|event\.[0-9]+):'

say "7. After the rollback every user is served legacy, on every worker, without a restart"
for u in test_canary_user user-17 user-4242 user-99999; do
  printf '  %-18s %s\n' "$u" "$(curl -s "$app/api/v2/conversations?user_id=$u" | sed 's/.*"version":"\([a-z]*\)".*/\1/')"
done
echo "The canary's figures over its whole life, regression included:"
curl -s "$app/api/v2/admin/canary/metrics" | sed -n '/"canary": {/,/}/p' |
  grep -E '"(request_count|error_count|error_rate|avg_response_time_ms|p95_response_time_ms)"'

say "8. Stop the demo server and the aggregator, remove the segment"
cleanup
pids=()
echo "stopped; the demo took $SECONDS s"
