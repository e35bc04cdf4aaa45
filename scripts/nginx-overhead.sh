#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What the nginx module costs (docs/nginx.md, docs/benchmarks.md): wrk against nginx serving a
# small static file at a registered endpoint's path, with the module routing and recording every
# request (and an aggregator draining the rings), against the same nginx without the module;
# alternating runs, medians.
#   scripts/nginx-overhead.sh [ROUNDS] [SECONDS]      (after a build: build/integrations/nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5} seconds=${2:-5}
module=$PWD/build/integrations/nginx/ngx_http_canary_shm_module.so
ctl=build/shm_tools/canary-ctl aggregator=build/shm_tools/canary-aggregator
[ -f "$module" ] || { echo "build the module first (cmake --build build)"; exit 1; }
work=$(mktemp -d) segment="canary-nginx-bench-$$" port=18300
# The file sits at a registered endpoint's path, so requests match a template and half the users
# route to the canary, as in a real deployment.
mkdir -p "$work/www/api/v2" "$work/logs"
printf 'ok\n' >"$work/www/api/v2/conversations"
"$ctl" --segment "$segment" init --percentage 50 >/dev/null
"$aggregator" --segment "$segment" --listen 127.0.0.1:0 >"$work/logs/aggregator.log" 2>&1 &
agg=$!
trap 'kill $agg 2>/dev/null; [ -f "$work/nginx.pid" ] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null; sleep 0.3; "$ctl" --segment "$segment" destroy --even-if-live >/dev/null 2>&1; rm -rf "$work"' EXIT
user_line=
[ "$(id -u)" = 0 ] && user_line="user $(id -un);"

conf() {  # $1: on or off
  local load="" directives=""
  if [ "$1" = on ]; then
    load="load_module $module;"
    directives="canary_shm_segment $segment; canary_shm_user_id \$cookie_uid; canary_shm_endpoint \$uri;"
  fi
  cat >"$work/nginx.conf" <<CONF
$load
$user_line
worker_processes 2;
error_log $work/logs/error.log;
pid $work/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  $directives
  server { listen 127.0.0.1:$port; root $work/www; location / { } }
}
CONF
}

run() {  # $1: on or off -> requests per second
  conf "$1"
  nginx -p "$work" -c "$work/nginx.conf" -g 'daemon on;'
  sleep 0.5
  wrk -t1 -c32 -d"${seconds}s" -s scripts/wrk-cookies.lua "http://127.0.0.1:$port/api/v2/conversations" | awk '/Requests\/sec/ {print $2}'
  kill -QUIT "$(cat "$work/nginx.pid")"
  sleep 0.5
}

on=() off=()
for _ in $(seq "$rounds"); do
  off+=("$(run off)")
  on+=("$(run on)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
m_on=$(median "${on[@]}") m_off=$(median "${off[@]}")
echo "module off: ${off[*]} (median $m_off requests/s)"
echo "module on:  ${on[*]} (median $m_on requests/s)"
awk -v a="$m_on" -v b="$m_off" 'BEGIN {printf "on / off (medians): %.3f\n", a / b}'
# Each round's on against the off run just before it: neighbours share the machine's mood.
ratios=()
for i in "${!on[@]}"; do ratios+=("$(awk -v a="${on[$i]}" -v b="${off[$i]}" 'BEGIN {printf "%.4f", a / b}')"); done
echo "on / off per round: ${ratios[*]} (median $(median "${ratios[@]}"))"
build/shm_tools/canary-shm-dump --segment "$segment" --json | python3 -c "
import json, sys
t = json.load(sys.stdin)['totals']
print('recorded by the module: ' + ', '.join(f'{v} {t[v][\"requests\"]}' for v in t))"
