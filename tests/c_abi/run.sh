#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the C ABI test against a real segment: at 100% it routes canary and records four requests
# (one 503), which canary-shm-dump must show exactly; at 0% it routes legacy.
#   run.sh C_ABI_TEST CANARY_CTL CANARY_SHM_DUMP
set -euo pipefail
test_program=$1 ctl=$2 dump=$3
segment="canary-c-abi-test-$$"
trap '"$ctl" --segment "$segment" destroy >/dev/null 2>&1 || true' EXIT

"$ctl" --segment "$segment" init >/dev/null
"$ctl" --segment "$segment" set-percentage 100 >/dev/null
"$test_program" "$segment" canary
"$dump" --segment "$segment" | grep -Eq '^all endpoints +canary +4 +1 ' \
  || { echo "the C program's 4 requests (1 error) are not the segment's canary total"; "$dump" --segment "$segment"; exit 1; }
"$ctl" --segment "$segment" set-percentage 0 >/dev/null
"$test_program" "$segment" legacy
