#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds ngx_http_canary_shm_module.so against Debian's nginx (nginx-dev: /usr/share/nginx/src),
# the way Debian builds its own dynamic modules: nginx's configure with the flags the installed
# nginx was built with (so the module's signature matches), then `make modules`.
#   build.sh BUILD_DIR CANARY_INCLUDE_DIR CANARY_LIB_DIR rpath|system
# rpath: the module loads libcanary.so from CANARY_LIB_DIR (the tests run it from the build tree);
# system: from wherever the system's loader finds it (the .deb installs it in /usr/lib).
set -euo pipefail
build_dir=$1
export CANARY_INCLUDE_DIR=$2 CANARY_LIB_DIR=$3
case ${4:-rpath} in
  rpath) export CANARY_RPATH=1 ;;
  system) export CANARY_RPATH=0 ;;
  *) echo "build.sh: the 4th argument is rpath or system"; exit 1 ;;
esac
module_dir=$(cd "$(dirname "$0")" && pwd)
nginx_src=/usr/share/nginx/src
[ -f "$nginx_src/conf_flags" ] || { echo "nginx-dev is not installed ($nginx_src/conf_flags missing)"; exit 1; }
mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)
cd "$nginx_src"
# shellcheck disable=SC1091  # Debian's file: NGX_CONF_FLAGS, the installed nginx's configure flags
. ./conf_flags
./configure --with-cc-opt="-O2 -fPIC -Wall -Werror -Wno-unused-parameter" --with-ld-opt="-fPIC" "${NGX_CONF_FLAGS[@]}" \
  --add-dynamic-module="$module_dir" --builddir="$build_dir" >"$build_dir/configure.log" 2>&1 ||
  { tail -30 "$build_dir/configure.log"; exit 1; }
make -s -f "$build_dir/Makefile" -C "$nginx_src" modules
test -f "$build_dir/ngx_http_canary_shm_module.so"
# The package's copy is stripped as Debian strips shared objects (the test copy keeps its symbols).
if [ "$CANARY_RPATH" = 0 ]; then
  strip --remove-section=.comment --remove-section=.note --strip-unneeded "$build_dir/ngx_http_canary_shm_module.so"
fi
