// SPDX-License-Identifier: Apache-2.0
// GET /metrics: the Prometheus text exposition (format 0.0.4) of an aggregator snapshot.
#pragma once

#include <string>

#include "canary/aggregator.hpp"

namespace canary::report {

// The bucket bounds of canary_request_duration_seconds, in microseconds: every one is a bucket
// boundary of the slab histogram, so the exported counts are exact; a bucket counts values below
// its bound (whole microseconds up to le - 1 us). The last, 60 s, holds everything but the slabs'
// overflow bucket.
const std::vector<std::uint64_t>& exported_bucket_bounds_us();

// `health`: the failures the aggregator survived (checkpoint, journal, events file, webhooks,
// events lost), each a counter that exists from the start at 0.
std::string prometheus_text(const AggregatorSnapshot& s, std::uint64_t heartbeat_unix_ns, const AggregatorHealth& health);

}  // namespace canary::report
