#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the .deb from this build tree (cpack), checks it with lintian (no error; warnings are
# printed), installs it with apt-get as a user would, runs what it installed (canary-ctl
# --version, the man page, pkg-config, systemd-analyze verify of the unit template), runs
# docs/operations.md's systemd recipe as written with a worker user (workers record, the aggregator
# counts them), loads the packaged nginx module into a real nginx, checks that the unit follows the
# install prefix, and removes the package.
#   run.sh BUILD_DIR PROJECT_VERSION
set -euo pipefail
build_dir=$1 version=$2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "installing a .deb needs root or sudo"; exit 1; }
  sudo="sudo"
fi
if dpkg-query -W -f='${Status}' canary-shm 2>/dev/null | grep -q 'install ok installed'; then
  echo "canary-shm is already installed on this machine: refusing to replace and remove it"
  exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
cd "$build_dir"
rm -f canary-shm_*.deb
cpack -G DEB >cpack.log || { cat cpack.log; exit 1; }
deb=$(ls canary-shm_*.deb)
echo "built $deb ($(du -k "$deb" | cut -f1) KiB)"

# lintian refuses to run as root without this; errors fail the test, warnings are shown.
lintian --allow-root --fail-on error "$deb"

trap '$sudo apt-get remove -y -qq canary-shm >/dev/null 2>&1 || true' EXIT
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "./$deb" >/dev/null
installed=$(/usr/bin/canary-ctl --version)
echo "installed: $installed"
[[ $installed == "canary-ctl $version (layout "* ]] || { echo "unexpected --version: $installed"; exit 1; }
for tool in canary-shm-dump canary-loadgen canary-aggregator canary-fleet; do "/usr/bin/$tool" --version >/dev/null; done
zcat /usr/share/man/man1/canary-ctl.1.gz | grep -q 'canary-ctl' || { echo "no man page for canary-ctl"; exit 1; }
[ -e /usr/share/bash-completion/completions/canary-ctl ] || { echo "no bash completion for canary-ctl"; exit 1; }
[ "$(pkg-config --modversion canary-shm)" = "$version" ] || { echo "pkg-config does not find canary-shm $version"; exit 1; }
getent passwd canary-shm >/dev/null || { echo "postinst did not create the canary-shm user"; exit 1; }
unit_dir=$(mktemp -d)
cp /usr/lib/systemd/system/canary-aggregator@.service "$unit_dir/canary-aggregator@demo.service"
systemd-analyze verify "$unit_dir/canary-aggregator@demo.service"
rm -rf "$unit_dir"

[ -d /etc/canary-shm ] && [ -d /var/lib/canary-shm ] || { echo "the package did not create /etc/canary-shm and /var/lib/canary-shm"; exit 1; }

# The nginx module: under nginx's modules, with Debian's snippet, linked to the system's libcanary
# (no path into a build tree), and loaded by a real nginx that routes and records a request.
module=/usr/lib/nginx/modules/ngx_http_canary_shm_module.so
snippet=/usr/share/nginx/modules-available/mod-http-canary-shm.conf
[ -f "$module" ] || { echo "no nginx module at $module"; exit 1; }
[ "$(cat "$snippet")" = "load_module $module;" ] || { echo "$snippet: $(cat "$snippet" 2>&1)"; exit 1; }
if readelf -d "$module" | grep -Eq 'RPATH|RUNPATH'; then echo "the packaged module carries a library path"; exit 1; fi
loaded=$(ldd "$module" | awk '/libcanary.so.1 =>/ {print $3}')
[ "$(readlink -f "$loaded")" = "$(readlink -f /usr/lib/libcanary.so.1)" ] || { ldd "$module"; echo "the module loads another libcanary"; exit 1; }
work=$(mktemp -d) segment="canary-pkg-$$" port=$((12000 + $$ % 2000))
cleanup_nginx() {
  [ -f "$work/nginx.pid" ] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null
  /usr/bin/canary-ctl --segment "$segment" destroy --even-if-live >/dev/null 2>&1 || true
  rm -rf "$work"
}
/usr/bin/canary-ctl --segment "$segment" init --group www-data --percentage 100 >/dev/null
mkdir -p "$work/logs"
cat >"$work/nginx.conf" <<CONF
include $snippet;
user www-data www-data;
worker_processes 1;
error_log $work/logs/error.log;
pid $work/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  canary_shm_segment $segment;
  server {
    listen 127.0.0.1:$port;
    canary_shm_user_id \$cookie_uid;
    canary_shm_endpoint \$uri;
    location / { return 200 "\$canary_version\n"; }
  }
}
CONF
nginx -t -q -p "$work" -c "$work/nginx.conf" || { cleanup_nginx; echo "nginx -t refuses the packaged module"; exit 1; }
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon on;'
for _ in $(seq 50); do [ -n "$(curl -s -b uid=u1 "http://127.0.0.1:$port/api/v2/conversations")" ] && break; sleep 0.1; done
answer=$(curl -s -b uid=u1 "http://127.0.0.1:$port/api/v2/conversations")
counted=$(/usr/bin/canary-shm-dump --segment "$segment" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['totals'].get('canary', {}).get('requests', 0))")
cleanup_nginx
[ "$answer" = canary ] || { echo "nginx with the packaged module answered '$answer'"; exit 1; }
[ "$counted" -ge 1 ] || { echo "nginx with the packaged module recorded nothing"; exit 1; }
echo "nginx: the packaged module loads from Debian's snippet, routes and records"

# docs/operations.md's systemd recipe, as written, as root, for a service whose workers run as
# user and group `myservice`; `systemctl` is the stand-in (this machine does not boot systemd).
created_user=0
if ! getent passwd myservice >/dev/null; then
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin myservice
  created_user=1
fi
fake=$(mktemp -d)
cleanup_recipe() {
  PATH=$here:$PATH FAKE_SYSTEMD_DIR=$fake systemctl stop canary-aggregator@myservice || true
  /usr/bin/canary-ctl --segment myservice destroy --even-if-live >/dev/null 2>&1 || true
  rm -rf /etc/canary-shm/myservice.conf /etc/canary-shm/policy.yaml /var/lib/canary-shm/myservice "$fake"
  gpasswd -d canary-shm myservice >/dev/null 2>&1 || true
  [ "$created_user" = 1 ] && userdel myservice 2>/dev/null || true
}
recipe=$(sed -n '/<!-- recipe: systemd/,/^```$/p' "$here/../../docs/operations.md" | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d')
[ -n "$recipe" ] || { echo "no systemd recipe in docs/operations.md"; exit 1; }
if ! PATH=$here:$PATH FAKE_SYSTEMD_DIR=$fake bash -euo pipefail -c "$recipe"; then
  cat "$fake"/*.log 2>/dev/null; cleanup_recipe; echo "the systemd recipe failed as written"; exit 1
fi
ready=0
for _ in $(seq 100); do curl -sf http://127.0.0.1:8081/readyz >/dev/null && { ready=1; break; }; sleep 0.1; done
[ "$ready" = 1 ] || { cat "$fake"/*.log; cleanup_recipe; echo "the aggregator of the recipe is not ready"; exit 1; }
stat -c '%U %G %a' /dev/shm/myservice | grep -qx 'root myservice 660' ||
  { stat /dev/shm/myservice; cleanup_recipe; echo "the recipe's segment is not root's, group myservice, mode 0660"; exit 1; }
# The service's workers, as its user: they route and record, and the aggregator counts it all.
workers=$(setpriv --reuid=myservice --regid=myservice --init-groups /usr/bin/canary-loadgen --segment myservice \
  --workers 2 --requests 2000 --rate 4000 2>"$fake/workers.err")
if grep -qi 'denied\|cannot' "$fake/workers.err"; then cat "$fake/workers.err"; cleanup_recipe; echo "workers could not use the segment"; exit 1; fi
sent=$(echo "$workers" | python3 -c "import json,sys; t=json.load(sys.stdin)['totals']; print(sum(v['requests'] for v in t.values()))")
counted=0
for _ in $(seq 50); do
  counted=$(curl -s http://127.0.0.1:8081/api/v2/admin/canary/metrics |
    python3 -c "import json,sys; m=json.load(sys.stdin); print(m['legacy']['request_count'] + m['canary']['request_count'])")
  [ "$counted" = "$sent" ] && break
  sleep 0.2
done
grep -q 'SIGHUP: policy reloaded' "$fake/canary-aggregator@myservice.log" || { cat "$fake"/*.log; cleanup_recipe; echo "reload did not reload"; exit 1; }
[ "$counted" = "$sent" ] || { cleanup_recipe; echo "the workers recorded $sent requests, the aggregator counts $counted"; exit 1; }
# An instance without its settings does not start, and makes nothing.
if PATH=$here:$PATH FAKE_SYSTEMD_DIR=$fake systemctl start canary-aggregator@unconfigured 2>/dev/null; then
  cleanup_recipe; echo "an instance without /etc/canary-shm/unconfigured.conf started"; exit 1
fi
[ ! -e /dev/shm/unconfigured ] || { cleanup_recipe; echo "an instance without settings made a segment"; exit 1; }
cleanup_recipe
echo "systemd recipe: as written, workers (myservice) recorded $sent requests and the aggregator (canary-shm) counts $counted"

# A plain `cmake --install` under another prefix: the unit names that prefix's tools.
prefix=$(mktemp -d)
cmake --install "$build_dir" --prefix "$prefix" --component runtime >/dev/null
grep -q "^ExecStart=$prefix/bin/canary-aggregator " "$prefix/lib/systemd/system/canary-aggregator@.service" ||
  { grep Exec "$prefix/lib/systemd/system/canary-aggregator@.service"; rm -rf "$prefix"; echo "the unit ignores the prefix"; exit 1; }
grep -q "^ExecStartPre=+$prefix/bin/canary-ctl " "$prefix/lib/systemd/system/canary-aggregator@.service" || { rm -rf "$prefix"; exit 1; }
rm -rf "$prefix"
echo "prefix: the unit installed under another prefix runs that prefix's tools"

$sudo apt-get remove -y -qq canary-shm >/dev/null
trap - EXIT
[ ! -e /usr/bin/canary-ctl ] || { echo "canary-ctl is still there after apt-get remove"; exit 1; }
echo "the .deb installs, runs canary-ctl --version, passes lintian and systemd-analyze verify, and removes cleanly"
