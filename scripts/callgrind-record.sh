#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Instructions per record() from callgrind (stable on noisy machines). valgrind does not register
# rseq, so this is the atomic fallback path: sched_getcpu() and three lock-prefixed adds.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
out=$(mktemp)
valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='*record_requests*' \
  build/bench/canary-record-ir "$n" 2>/dev/null
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
rm -f "$out"
echo "instructions per record (fallback path): $(( total / n )) ($total over $n records)"
