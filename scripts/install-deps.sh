#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages canary-shm builds and tests with, when any is missing.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libboost-dev libxxhash-dev libssl-dev
  libgtest-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libyaml-cpp-dev
  openssl prometheus curl wrk etcd-server etcd-client nginx nginx-dev
  python3-dev python3-venv python3-setuptools python3-wheel python3-pybind11 pybind11-dev
  python3-pytest python3-httpx python3-fastapi python3-uvicorn gunicorn
  help2man lintian dpkg-dev systemd
)
[ "$#" -gt 0 ] && packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; as root: apt-get install ${missing[*]}"; exit 1; }
  sudo="sudo"
fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
