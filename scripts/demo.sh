#!/usr/bin/env bash
# The demo: installs what is missing, builds, then on a segment of its own: configures a rollout
# with canary-ctl, starts the aggregator, replays the seed document's example traffic and shows the
# seed's metrics JSON, drives four worker processes, reads everything back, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target canary-ctl canary-shm-dump canary-loadgen canary-aggregator >/dev/null

segment=canary-demo
admin=127.0.0.1:${DEMO_ADMIN_PORT:-8081}
work=$(mktemp -d)
aggregator_pid=""
cleanup() {
  [ -n "$aggregator_pid" ] && kill "$aggregator_pid" 2>/dev/null && wait "$aggregator_pid" 2>/dev/null
  build/shm_tools/canary-ctl --segment "$segment" destroy >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ctl() {
  echo "\$ canary-ctl $*"
  build/shm_tools/canary-ctl --segment "$segment" "$@" 2>&1
}
say() { printf '\n== %s\n' "$*"; }
users=(test_canary_user alice bob carol dave erin frank grace heidi ivan judy mallory)
route_all() {
  for u in "${users[@]}"; do
    printf '  %-18s %s\n' "$u" "$(build/shm_tools/canary-ctl --segment "$segment" route --user "$u" --path /api/v2/conversations/abc/turn)"
  done
}

say "Create the shared-memory segment: the seed's seven endpoints, 5% canary, xxh3 buckets"
ctl init --force
ctl status | grep -E '^(enabled|canary_percentage|hash|state|generation|endpoint)'

say "Route some users (the same user always gets the same answer)"
route_all

say "Raise the canary to 30%: every canary user stays in the canary"
ctl set-percentage 30
route_all

say "Pin a user for a manual end-to-end test, add and remove endpoints"
ctl pin --user test_canary_user --version canary
ctl add-endpoint "/api/v2/new_feature/{id}"
ctl remove-endpoint /api/v2/recommend/compare
ctl route --user test_canary_user --path /api/v2/recommend/compare

say "Bad input is refused with one line and changes nothing"
ctl set-percentage 101 || true
ctl set-percentage 5.123 || true
ctl remove-endpoint /api/v2/never_registered || true
ctl status | grep -E '^(canary_percentage|generation)'

say "Start the aggregator (drains the rings every 10 ms, sums the slabs every second)"
ctl init --force >/dev/null
build/shm_tools/canary-aggregator --segment "$segment" --listen "$admin" --state-dir "$work" >"$work/aggregator.log" 2>&1 &
aggregator_pid=$!
for _ in $(seq 50); do grep -q listening "$work/aggregator.log" && break; sleep 0.1; done
cat "$work/aggregator.log"

say "Replay the seed document's example traffic: 9,500 legacy requests (5 errors), 500 canary (1)"
sh examples/seed-example-traffic.sh >"$work/seed.csv"
build/shm_tools/canary-loadgen --segment "$segment" --replay "$work/seed.csv" >/dev/null
sleep 1.5
echo "\$ curl -s http://$admin/api/v2/admin/canary/metrics"
curl -s "http://$admin/api/v2/admin/canary/metrics"

say "Four worker processes record 250,000 requests each at 100,000 a second; the canary fails 3%"
build/shm_tools/canary-loadgen --segment "$segment" --workers 4 --requests 250000 --rate 100000 \
  --canary-error-rate 0.03 >"$work/truth.json"
echo "loadgen's ground truth:"
grep -E '^  "(elapsed_s|requests|ring_full_drops)"' "$work/truth.json"
sleep 1.5

say "What the workers wrote, read back from shared memory by canary-shm-dump"
build/shm_tools/canary-shm-dump --segment "$segment" | sed -n '1,14p;/^rings/p'

say "The aggregator proved the canary worse than the SLO allows and rolled it back by itself"
ctl status | grep -E '^(state|state_reason|canary_percentage|event\.)'
echo "every user now routes legacy:"
route_all

say "The same figures as Prometheus sees them"
curl -s "http://$admin/metrics" | grep -E '^canary_(requests_total\{version="canary",endpoint="/api/v2/recommend/personalized",method="POST"|share_ratio|deployment_state|rollback_latency|gate_holds)'
