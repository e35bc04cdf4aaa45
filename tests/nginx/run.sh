#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The nginx module against a real nginx (SPEC section 13): two upstreams (server blocks of the same
# nginx, each with its own access log, which is what "served" means here) behind a proxy that
# routes with the module. Checks, in order:
#   1. every user reaches the upstream `canary-ctl route` names (the seed's curl example among them);
#   2. canary-shm-dump's counts per version equal the upstreams' access-log lines, exactly;
#   3. `nginx -s reload` and a worker killed with SIGKILL lose no count;
#   4. a canary that starts answering 500 (no reload: the upstream checks a file) is rolled back by
#      the aggregator, and the next request of every user goes to legacy, without a reload.
#   run.sh MODULE_SO CANARY_CTL CANARY_SHM_DUMP CANARY_AGGREGATOR WORK_DIR
set -euo pipefail
module=$1 ctl=$2 dump=$3 aggregator=$4 work=$5
segment="canary-nginx-test-$$"
port_base=$((10000 + ($$ % 2000) * 4))  # below the ephemeral ports other tests bind
proxy=$port_base legacy=$((port_base + 1)) canary=$((port_base + 2)) admin=$((port_base + 3))
rm -rf "$work" && mkdir -p "$work/logs"
agg_pid=
cleanup() {
  [ -n "$agg_pid" ] && kill "$agg_pid" 2>/dev/null
  [ -f "$work/nginx.pid" ] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null
  "$ctl" --segment "$segment" destroy --even-if-live >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -5 "$work/logs/error.log" 2>/dev/null; exit 1; }

# nginx's workers run as www-data when it starts as root: the segment is shared with that group.
user_line= group_args=()
if [ "$(id -u)" = 0 ]; then user_line="user www-data www-data;" group_args=(--group www-data --mode 0660); fi
"$ctl" --segment "$segment" init "${group_args[@]}" --percentage 50 >/dev/null

write_conf() {
  cat >"$work/nginx.conf" <<CONF
load_module $module;
$user_line
worker_processes 2;
error_log $work/logs/error.log;
pid $work/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  canary_shm_segment $segment;
  upstream legacy { server 127.0.0.1:$legacy; }
  upstream canary { server 127.0.0.1:$canary; }
  server {
    listen 127.0.0.1:$proxy;
    canary_shm_user_id \$cookie_uid;
    canary_shm_endpoint \$uri;
    location / { proxy_pass http://\$canary_version; }
    location /healthz { canary_shm_record off; return 200 "ok\n"; }
    # Routed in the access phase, then an internal redirect (which clears module contexts).
    location = /fallback { try_files /nonexistent @upstream; }
    location @upstream { proxy_pass http://\$canary_version; }
  }
  server { listen 127.0.0.1:$legacy; access_log $work/logs/legacy.log; location / { return 200 "legacy\n"; } }
  # The canary breaks when the file \`broken\` appears: a regression injected without touching nginx.
  server { listen 127.0.0.1:$canary; access_log $work/logs/canary.log;
           location / { if (-f $work/broken) { return 500 "broken canary\n"; } return 200 "canary\n"; } }
}
CONF
}
write_conf
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon on;' || fail "nginx did not start"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$proxy/healthz" >/dev/null && break; sleep 0.1; done

paths=(/api/v2/recommend/personalized /api/v2/recommend/compare /api/v2/conversations/start /api/v2/conversations)
request() {  # user path -> the body (the upstream's name)
  curl -s -b "uid=$1" -H 'Content-Type: application/json' -d '{"query": "test query"}' "http://127.0.0.1:$proxy$2"
}
count_of() {  # the segment's request count of a version
  "$dump" --segment "$segment" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['totals']['$1']['requests'])"
}
served() { [ -f "$work/logs/$1.log" ] && wc -l <"$work/logs/$1.log" || echo 0; }
check_counts() {
  for v in legacy canary; do
    [ "$(count_of $v)" = "$(served $v)" ] || fail "$1: $v counted $(count_of $v), served $(served $v)"
  done
}

# 1. Routing: 200 users, each on one of four endpoints, as canary-ctl says.
for u in $(seq 200); do
  path=${paths[$((u % 4))]}
  got=$(request "user-$u" "$path")
  want=$("$ctl" --segment "$segment" route --user "user-$u" --path "$path")
  [ "$got" = "$want" ] || fail "user-$u on $path reached $got, canary-ctl route says $want"
done
got=$(request test_canary_user /api/v2/recommend/personalized)
[ "$got" = "$("$ctl" --segment "$segment" route --user test_canary_user --path /api/v2/recommend/personalized)" ] ||
  fail "the seed's curl example reached $got"
echo "routing: 201 requests reached the upstream canary-ctl route names"

# 2. Counts equal what the upstreams served.
check_counts "after routing"
echo "counts: legacy $(served legacy), canary $(served canary), as the upstreams served"

# An internal redirect after routing: the request is still routed and counted once.
for u in $(seq 1 20); do
  got=$(request "user-$u" /fallback)
  [ "$got" = "$("$ctl" --segment "$segment" route --user "user-$u" --path /fallback)" ] || fail "user-$u via try_files reached $got"
done
check_counts "after internal redirects"
echo "internal redirects: 20 requests routed and counted once"

# The configuration docs/nginx.md shows passes nginx -t with this module.
sed -n '/^```nginx$/,/^```$/p' "$(dirname "$0")/../../docs/nginx.md" | sed '1d;$d' |
  sed "s|/usr/lib/nginx/modules/ngx_http_canary_shm_module.so|$module|; s|listen 80;|listen 127.0.0.1:$admin;|; s|/var/log/nginx/canary.log|$work/logs/docs.log|" |
  { if [ "$(id -u)" = 0 ]; then cat; else grep -v '^user '; fi; } >"$work/docs.conf"
nginx -t -q -p "$work" -c "$work/docs.conf" -g "pid $work/docs.pid; error_log $work/logs/docs-error.log;" ||
  fail "docs/nginx.md's configuration does not pass nginx -t"
echo "docs/nginx.md: its configuration passes nginx -t"

# 3. A reload and a killed worker lose no count.
nginx -p "$work" -c "$work/nginx.conf" -s reload
sleep 1
for u in $(seq 201 300); do request "user-$u" /api/v2/recommend/compare >/dev/null; done
worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
kill -9 "$worker"
sleep 0.5
for u in $(seq 301 400); do request "user-$u" /api/v2/recommend/compare >/dev/null; done
check_counts "after a reload and a killed worker"
echo "reload and kill -9 of worker $worker: no count lost (legacy $(served legacy), canary $(served canary))"

# 4. A canary regression is rolled back by the aggregator, without touching nginx.
"$aggregator" --segment "$segment" --listen "127.0.0.1:$admin" --interval-ms 200 >"$work/logs/aggregator.log" 2>&1 &
agg_pid=$!
touch "$work/broken"
sleep 0.5
rolled_back=
for round in $(seq 40); do
  for u in $(seq 1 50); do request "user-$((round * 50 + u))" /api/v2/recommend/personalized >/dev/null; done
  if "$ctl" --segment "$segment" status | grep -q '^state: rolled_back'; then rolled_back=$round; break; fi
done
[ -n "$rolled_back" ] || fail "the broken canary was not rolled back"
for u in $(seq 200); do
  got=$(request "user-$u" /api/v2/recommend/personalized)
  [ "$got" = legacy ] || fail "user-$u reached '$got' after the rollback"
done
echo "regression: rolled back after $((rolled_back * 50)) requests; the next request of 200 users went to legacy"
# A segment that does not exist: every user goes to legacy, nothing fails, one line says why.
nginx -p "$work" -c "$work/nginx.conf" -s quit
for _ in $(seq 50); do [ -f "$work/nginx.pid" ] || break; sleep 0.1; done
sed -i "s|canary_shm_segment $segment;|canary_shm_segment canary-nginx-missing-$$;|" "$work/nginx.conf"
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon on;' || fail "nginx did not start without its segment"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$proxy/healthz" >/dev/null && break; sleep 0.1; done
for u in $(seq 50); do
  got=$(request "user-$u" /api/v2/recommend/personalized)
  [ "$got" = legacy ] || fail "user-$u reached '$got' without a segment"
done
grep -q "cannot be attached: routing every user legacy" "$work/logs/error.log" || fail "no error line for the missing segment"
echo "missing segment: 50 users routed legacy; the error log says why"
echo "nginx module: all checks passed"
