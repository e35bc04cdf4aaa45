#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds a project that uses canary-shm the way MODE says, and checks that its worker routes
# through a real segment: at 100% the user is canary, and the request reaches the counters.
#   run.sh MODE SOURCE_DIR BUILD_DIR WORK_DIR CANARY_CTL CANARY_SHM_DUMP CMAKE_GENERATOR CXX_COMPILER C_COMPILER
# MODE: subdirectory | fetchcontent (a tarball of the source tree) | package (find_package of the
# tree `cmake --install BUILD_DIR` installs) | pkg-config (the C ABI test, compiled by
# `cc -std=c11 -Wall -Werror $(pkg-config --cflags --libs canary-shm)` against that tree).
set -euo pipefail
mode=$1 source_dir=$2 build_dir=$3 work_dir=$4 ctl=$5 dump=$6 generator=$7 cxx=$8 cc=$9
segment="canary-consumer-test-$$"
trap '"$ctl" --segment "$segment" destroy >/dev/null 2>&1 || true' EXIT
rm -rf "$work_dir"
mkdir -p "$work_dir"

install_tree() {
  cmake --install "$build_dir" --prefix "$work_dir/prefix" >/dev/null
}

configure_and_build() {
  cmake -S "$source_dir/tests/consumer" -B "$work_dir/build" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCANARY_CONSUME="$mode" "$@" >"$work_dir/configure.log" || { cat "$work_dir/configure.log"; exit 1; }
  cmake --build "$work_dir/build"
  # Only what the worker links is built: no tool, test or aggregator library.
  if find "$work_dir/build" -name 'canary-ctl' -o -name 'libcanary_core.a' -o -name 'canary_unit_tests' | grep -q .; then
    echo "the consumer's build also built canary-shm targets it does not link"
    exit 1
  fi
}

# A worker's project needs none of the aggregator's or the tools' libraries: they are hidden
# from the vendored builds, which must still configure and build.
without_tool_libraries=(-DCMAKE_DISABLE_FIND_PACKAGE_yaml-cpp=ON -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON
  -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON)

case $mode in
  subdirectory) configure_and_build -DCANARY_SOURCE_DIR="$source_dir" "${without_tool_libraries[@]}" ;;
  fetchcontent)
    # What a release tarball holds: the source tree without its git directory and build trees.
    tar -C "$source_dir" --exclude='./.git' --exclude='./build*' --exclude='./python/build' \
      -czf "$work_dir/canary-shm.tar.gz" .
    configure_and_build -DCANARY_TARBALL="$work_dir/canary-shm.tar.gz" "${without_tool_libraries[@]}" ;;
  package)
    install_tree
    configure_and_build -DCMAKE_PREFIX_PATH="$work_dir/prefix" ;;
  pkg-config)
    install_tree
    pc_dir=$(dirname "$(find "$work_dir/prefix" -name canary-shm.pc)")
    export PKG_CONFIG_PATH=$pc_dir
    # shellcheck disable=SC2046  # pkg-config's words are meant to split
    "$cc" -std=c11 -Wall -Werror -o "$work_dir/c_abi_test" "$source_dir/tests/c_abi/c_abi_test.c" \
      $(pkg-config --cflags --libs canary-shm)
    LD_LIBRARY_PATH=$(pkg-config --variable=libdir canary-shm) \
      "$source_dir/tests/c_abi/run.sh" "$work_dir/c_abi_test" "$ctl" "$dump"
    echo "pkg-config consumer: compiled as C11 against the installed tree; routed and recorded"
    exit 0 ;;
  *) echo "unknown mode '$mode'"; exit 2 ;;
esac

"$ctl" --segment "$segment" init >/dev/null
"$ctl" --segment "$segment" set-percentage 100 >/dev/null
version=$("$work_dir/build/consumer_worker" "$segment")
[[ $version == canary ]] || { echo "consumer_worker routed '$version', expected canary at 100%"; exit 1; }
"$dump" --segment "$segment" | grep -Eq '^all endpoints +canary +1 ' \
  || { echo "the consumer's request is not in the segment's canary total"; "$dump" --segment "$segment"; exit 1; }
echo "consumer project ($mode): built, routed canary and recorded 1 request"
