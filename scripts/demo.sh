#!/usr/bin/env bash
# The demo: installs what is missing, builds, and walks through a canary rollout's configuration
# with canary-ctl on a fresh segment of its own, then removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target canary-ctl canary-shm-dump canary-loadgen >/dev/null

segment=canary-demo
ctl() {
  echo "\$ canary-ctl $*"
  build/shm_tools/canary-ctl --segment "$segment" "$@" 2>&1
}
say() { printf '\n== %s\n' "$*"; }

say "Create the shared-memory segment: the seed's seven endpoints, 5% canary, xxh3 buckets"
ctl init --force
ctl status | grep -E '^(enabled|canary_percentage|hash|salt|state|generation|endpoint)'

say "Route some users (the same user always gets the same answer)"
users=(test_canary_user alice bob carol dave erin frank grace heidi ivan judy mallory)
for u in "${users[@]}"; do printf '%-18s %s\n' "$u" "$(ctl route --user "$u" --path /api/v2/conversations/abc/turn | tail -1)"; done

say "Raise the canary to 30%: every canary user stays in the canary"
ctl set-percentage 30
for u in "${users[@]}"; do printf '%-18s %s\n' "$u" "$(ctl route --user "$u" --path /api/v2/conversations/abc/turn | tail -1)"; done

say "Pin a user for a manual end-to-end test, add and remove endpoints"
ctl pin --user test_canary_user --version canary
ctl route --user test_canary_user --path /api/v2/recommend/personalized
ctl add-endpoint "/api/v2/new_feature/{id}"
ctl remove-endpoint /api/v2/recommend/compare
ctl route --user test_canary_user --path /api/v2/recommend/compare
ctl status | grep -E '^(endpoint\.|pin)'

say "Bad input is refused with one line and changes nothing"
ctl set-percentage 101 || true
ctl set-percentage 5.123 || true
ctl remove-endpoint /api/v2/never_registered || true
ctl status | grep -E '^(canary_percentage|generation)'

say "Four worker processes record 250,000 requests each (the canary fails 3% of the time)"
ctl set-percentage 10
build/shm_tools/canary-loadgen --segment "$segment" --workers 4 --requests 250000 \
  --canary-error-rate 0.03 >/tmp/canary-demo-truth.json
python3 - /tmp/canary-demo-truth.json <<'PY' 2>/dev/null || cat /tmp/canary-demo-truth.json
import json, sys
t = json.load(open(sys.argv[1]))
print(f"loadgen recorded {t['requests']:,} requests in {t['elapsed_s']:.2f} s ({t['requests_per_s']/1e6:.1f} M/s)")
PY

say "What the workers wrote, read back from shared memory by canary-shm-dump"
build/shm_tools/canary-shm-dump --segment "$segment" | sed -n '1,12p;/^rings/,$p'
if build/shm_tools/canary-shm-dump --segment "$segment" --json | python3 -c '
import json, sys
dump = json.load(sys.stdin)
truth = json.load(open("/tmp/canary-demo-truth.json"))
sys.exit(0 if dump["totals"] == truth["totals"] else 1)' 2>/dev/null; then
  echo "dump totals == loadgen ground truth: exact"
fi

say "Remove the segment"
ctl destroy
