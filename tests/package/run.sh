#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the .deb from this build tree (cpack), checks it with lintian (no error; warnings are
# printed), installs it with apt-get as a user would, runs what it installed (canary-ctl
# --version, the man page, pkg-config, systemd-analyze verify of the unit template), and removes it.
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

$sudo apt-get remove -y -qq canary-shm >/dev/null
trap - EXIT
[ ! -e /usr/bin/canary-ctl ] || { echo "canary-ctl is still there after apt-get remove"; exit 1; }
echo "the .deb installs, runs canary-ctl --version, passes lintian and systemd-analyze verify, and removes cleanly"
