#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The fleet demo (docs/fleet.md): installs what is missing and builds, then on loopback starts a
# three-member etcd cluster, four hosts in two regions (each its own segment, aggregator and
# canary-loadgen traffic) and two canary-fleet controllers. It rolls a healthy canary out wave by
# wave (region eu, then us), adjusts one region's share by hand, injects a regression in one
# region that the fleet rolls back everywhere, then kills the leading controller and shows the
# standby take over. Everything it starts is stopped at the end. About two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target canary-ctl canary-aggregator canary-fleet canary-loadgen >/dev/null

bin=build/shm_tools
work=$(mktemp -d)
deployment=demo
base=${FLEET_DEMO_PORT:-24000}  # etcd members on base..base+5, hosts on base+10.., controllers base+20..
pids=()
loads=()
hosts=(eu1:eu eu2:eu us1:us us2:us)
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then  # say what the fleet looked like when the demo gave up
    echo "demo failed; the leader's status and the controllers' last log lines:"
    curl -s "http://127.0.0.1:$(leader_port)/api/v2/admin/canary/status" | head -c 6000 || true
    tail -n 20 "$work"/controller*.log || true
  fi
  for p in "${loads[@]}" "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${loads[@]}" "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for h in "${hosts[@]}"; do "$bin/canary-ctl" --segment "fleet-demo-${h%%:*}" --etcd "$etcd" destroy --even-if-live >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
fleet() { echo "\$ canary-ctl --etcd ... --deployment $deployment $*"; "$bin/canary-ctl" --etcd "$etcd" --deployment "$deployment" "$@"; }
shares() {  # every host's share and state, from its own segment
  for h in "${hosts[@]}"; do
    local id=${h%%:*}
    printf '  %-4s (%s): %s%%, %s\n' "$id" "${h##*:}" \
      "$("$bin/canary-ctl" --segment "fleet-demo-$id" status | sed -n 's/^canary_percentage: //p')" \
      "$("$bin/canary-ctl" --segment "fleet-demo-$id" status | sed -n 's/^state: //p')"
  done
}
leader_port() {
  for i in 0 1; do
    curl -sf "http://127.0.0.1:$((base + 20 + i))/healthz" 2>/dev/null | grep -q '"leader": true' && { echo $((base + 20 + i)); return; }
  done
  echo ""
}
wait_until() {  # wait_until SECONDS CMD...: until CMD succeeds
  local limit=$1; shift
  for _ in $(seq $((limit * 5))); do "$@" && return 0; sleep 0.2; done
  echo "demo: gave up waiting for: $*"; return 1
}
share_is() { "$bin/canary-ctl" --segment "fleet-demo-$1" status | grep -q "^canary_percentage: $2\$"; }
state_is() { curl -sf "http://127.0.0.1:$(leader_port)/api/v2/admin/canary/status" | grep -q "\"state\": \"$1\""; }
awaiting() { curl -sf "http://127.0.0.1:$(leader_port)/api/v2/admin/canary/status" | grep -q '"awaiting_approval": true'; }
load() {  # load HOST CANARY_ERROR_RATE: paced traffic on one host until stopped
  exec "$bin/canary-loadgen" --segment "fleet-demo-$1" --workers 1 --requests 100000000 --rate 2000 \
    --legacy-error-rate 0.001 --canary-error-rate "$2" --legacy-latency-ms 100:0.3 --canary-latency-ms 90:0.3 >/dev/null
}
restart_loads() {  # restart_loads CANARY_ERROR_RATE_FOR_EU
  for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  loads=()
  for h in "${hosts[@]}"; do
    local rate=0.001
    [ "${h##*:}" = eu ] && rate=$1
    load "${h%%:*}" "$rate" & loads+=($!)
  done
}

say "1. A three-member etcd cluster on loopback (heartbeat 250 ms, election 2.5 s)"
cluster=""
for i in 0 1 2; do cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base + 3 + i))"; done
etcd=""
for i in 0 1 2; do
  etcd+="${etcd:+,}http://127.0.0.1:$((base + i))"
  /usr/bin/etcd --name "m$i" --data-dir "$work/m$i" \
    --listen-client-urls "http://127.0.0.1:$((base + i))" --advertise-client-urls "http://127.0.0.1:$((base + i))" \
    --listen-peer-urls "http://127.0.0.1:$((base + 3 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((base + 3 + i))" \
    --initial-cluster "$cluster" --initial-cluster-state new --heartbeat-interval 250 --election-timeout 2500 \
    --auto-compaction-mode periodic --auto-compaction-retention 1h \
    --logger zap --log-level warn >"$work/etcd$i.log" 2>&1 &
  pids+=($!)
done
wait_until 30 env ETCDCTL_API=3 etcdctl --endpoints "$etcd" endpoint health >/dev/null 2>&1
ETCDCTL_API=3 etcdctl --endpoints "$etcd" member list

say "2. The fleet's policy: waves eu then us, ramp 10% -> 50% -> 100%, 2 s bakes, approval before the last 100%"
cat >"$work/policy.yaml" <<'EOF'
regions:
  - wave: [eu]
  - wave: [us]
ramp:
  steps: [10, 50, 100]
  bake: 2s
  require_approval: true
gate:
  min_canary_requests: 500
rollback:
  scope: fleet
EOF
cat "$work/policy.yaml"
fleet policy set "$work/policy.yaml"

say "3. Four hosts (a segment, an aggregator in fleet mode each) and two controllers"
i=0
for h in "${hosts[@]}"; do
  id=${h%%:*}
  "$bin/canary-ctl" --segment "fleet-demo-$id" --etcd "$etcd" init --force --cpus 2 >/dev/null
  "$bin/canary-aggregator" --segment "fleet-demo-$id" --listen "127.0.0.1:$((base + 10 + i))" --interval-ms 500 \
    --etcd "$etcd" --deployment "$deployment" --host-id "$id" --region "${h##*:}" >"$work/$id.log" 2>&1 &
  pids+=($!)
  i=$((i + 1))
done
for c in 0 1; do
  "$bin/canary-fleet" --etcd "$etcd" --deployment "$deployment" --id "controller-$c" \
    --listen "127.0.0.1:$((base + 20 + c))" --interval-ms 500 >"$work/controller$c.log" 2>&1 &
  pids+=($!)
done
has_leader() { [ -n "$(leader_port)" ]; }
wait_until 20 has_leader
echo "leading: controller on port $(leader_port)"

say "4. Start: wave eu at 10%, us waits at 0%; healthy traffic on every host"
fleet start
restart_loads 0.001
sleep 1
shares

say "5. The fleet ramps eu to 100%, then us, judging each region and the whole fleet"
wait_until 90 share_is eu1 100
shares
wait_until 90 awaiting
shares
echo "(the last wave waits for approval below 100%)"

say "6. Real-time adjustment by hand: us back to 10%, every host of us within a second"
fleet set-percentage 10 --region us
sleep 1
shares

say "7. A regression in eu: its canary fails 5.5% of requests. The fleet proves it and rolls back everywhere"
restart_loads 0.055
wait_until 60 state_is rolled_back
curl -s "http://127.0.0.1:$(leader_port)/api/v2/admin/canary/status" | grep -m1 '"reason"'
sleep 0.5
shares

say "8. A new rollout, then the leading controller is killed (SIGKILL): the standby leads within the lease"
restart_loads 0.001
fleet start
old=$(leader_port)
for p in $(pgrep -f "canary-fleet .*127.0.0.1:$old"); do kill -9 "$p"; done
killed=$(date +%s%N)
new_leader() { local now; now=$(leader_port); [ -n "$now" ] && [ "$now" != "$old" ]; }
wait_until 20 new_leader
echo "the standby leads after $(( ($(date +%s%N) - killed) / 1000000 )) ms (lease 5 s)"
wait_until 60 share_is eu1 50
shares
fleet status

say "done: every process this demo started is stopped now"
