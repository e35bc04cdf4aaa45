#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds tests/consumer against this source tree and checks that its worker routes through a real
# segment: at 100% the user is canary, and the request reaches the segment's counters.
#   run.sh SOURCE_DIR WORK_DIR CANARY_CTL CANARY_SHM_DUMP CMAKE_GENERATOR CXX_COMPILER
set -euo pipefail
source_dir=$1 work_dir=$2 ctl=$3 dump=$4 generator=$5 compiler=$6
segment="canary-consumer-test-$$"
trap '"$ctl" --segment "$segment" destroy >/dev/null 2>&1 || true' EXIT

cmake -S "$source_dir/tests/consumer" -B "$work_dir" -G "$generator" -DCMAKE_CXX_COMPILER="$compiler" \
  -DCANARY_SOURCE_DIR="$source_dir"
cmake --build "$work_dir" --target consumer_worker

"$ctl" --segment "$segment" init >/dev/null
"$ctl" --segment "$segment" set-percentage 100 >/dev/null
version=$("$work_dir/consumer_worker" "$segment")
[[ $version == canary ]] || { echo "consumer_worker routed '$version', expected canary at 100%"; exit 1; }
"$dump" --segment "$segment" | grep -Eq '^all endpoints +canary +1 ' \
  || { echo "the consumer's request is not in the segment's canary total"; "$dump" --segment "$segment"; exit 1; }
echo "consumer project built with add_subdirectory; routed canary and recorded 1 request"
