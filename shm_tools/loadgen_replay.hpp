// SPDX-License-Identifier: Apache-2.0
// --replay FILE: one request per CSV line, `endpoint,method,user_id,version,status_code,
// response_time_ms` (header optional, plain fields, no quoting). The version column decides the
// version; every row is validated before anything is recorded.
#pragma once

#include <string>
#include <vector>

#include "canary/status.hpp"
#include "canary/types.hpp"
#include "loadgen_truth.hpp"

namespace canary::tools {

struct ReplayRow {
  std::string endpoint;  // a template or a raw path
  Method method;
  std::string user_id;
  Version version;
  std::uint32_t status_code;
  std::uint64_t latency_us;
};

// All rows, or the first bad one as "FILE:LINE: problem".
// `versions`: the segment's version names by index; the version column must be one of them.
Expected<std::vector<ReplayRow>> read_replay_file(const std::string& path, const std::vector<std::string>& versions);

// Parses one response_time_ms field: a non-negative decimal, rounded half-up to microseconds.
Expected<std::uint64_t> parse_latency_ms(std::string_view text);

// Records rows[begin, end) in an attached worker.
GroundTruth run_replay(const std::vector<ReplayRow>& rows, std::size_t begin, std::size_t end);

}  // namespace canary::tools
