#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Writes, as canary-loadgen --replay CSV, traffic whose metrics are exactly the seed document's
# example response: 9,500 legacy requests with 5 errors (mean 250 ms, P95 450 ms, P99 600 ms) and
# 500 canary requests with 1 error (mean 230 ms, P95 420 ms, P99 550 ms).
#
# Latencies come in four blocks per version; the P95 and P99 ranks sit well inside a block, so a
# t-digest reads them exactly. Rows are spread by a fixed permutation (i * 7919 mod 10000), as
# real traffic would interleave them.
awk 'BEGIN {
  n = 0
  split("6403 2296 500 301", lc, " "); split("200 300 450 600", lv, " ")
  for (b = 1; b <= 4; b++) for (i = 0; i < lc[b]; i++) {
    row[n] = sprintf("/api/v2/recommend/personalized,POST,legacy-user-%d,legacy,%d,%s", n, (n % 1900 == 7) ? 500 : 200, lv[b]); n++
  }
  split("411 49 30 10", cc, " "); split("200 300 420 550", cv, " ")
  for (b = 1; b <= 4; b++) for (i = 0; i < cc[b]; i++) {
    row[n] = sprintf("/api/v2/conversations/abc/turn,POST,canary-user-%d,canary,%d,%s", n, (n == 9503) ? 500 : 200, cv[b]); n++
  }
  print "endpoint,method,user_id,version,status_code,response_time_ms"
  for (i = 0; i < n; i++) print row[(i * 7919) % n]
}'
