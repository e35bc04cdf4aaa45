#!/usr/bin/env bash
# The demo: installs what is missing, builds, and walks through a canary rollout's configuration
# with canary-ctl on a fresh segment of its own, then removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j "$(nproc)" --target canary-ctl >/dev/null

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

say "Remove the segment"
ctl destroy
