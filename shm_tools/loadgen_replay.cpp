// SPDX-License-Identifier: Apache-2.0
#include "loadgen_replay.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>

#include "canary/config_edit.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/writer.hpp"

namespace canary::tools {

namespace {

constexpr std::string_view kHeader = "endpoint,method,user_id,version,status_code,response_time_ms";
constexpr std::uint64_t kMaxLatencyMs = 86'400'000;  // a day

bool all_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return !s.empty();
}

Status bad(std::string message) { return {Errc::invalid_argument, std::move(message)}; }

Expected<Method> parse_method_field(std::string_view text) {
  if (text.empty() || text.size() > 32) return bad("method must be 1 to 32 letters");
  std::string upper;
  for (char c : text) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return bad("method '" + std::string(text) + "' must be letters only");
    upper += static_cast<char>(c >= 'a' ? c - 32 : c);
  }
  return parse_method(upper);  // GET, POST, PUT, PATCH, DELETE; any other method counts as "other"
}

Expected<ReplayRow> parse_row(std::string_view line, const std::vector<std::string>& versions) {
  std::string_view fields[6];
  std::size_t count = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    if (count == 6) return bad("more than 6 fields (endpoint,method,user_id,version,status_code,response_time_ms)");
    fields[count++] = line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (count != 6)
    return bad(std::to_string(count) + " fields; expected 6 (endpoint,method,user_id,version,status_code,response_time_ms)");
  ReplayRow row;
  const std::string_view endpoint = fields[0];
  if (endpoint.empty()) return bad("endpoint is empty");
  if (endpoint.size() > kMaxPathBytes)
    return bad("endpoint is " + std::to_string(endpoint.size()) + " bytes; the limit is " + std::to_string(kMaxPathBytes));
  if (endpoint.front() != '/') return bad("endpoint '" + std::string(endpoint.substr(0, 40)) + "' must start with '/'");
  row.endpoint = endpoint;
  auto method = parse_method_field(fields[1]);
  if (!method) return method.status();
  row.method = *method;
  if (std::string why = user_id_problem(fields[2]); !why.empty()) return bad(why);
  row.user_id = fields[2];
  const auto version = std::find(versions.begin(), versions.end(), fields[3]);
  if (version == versions.end()) {
    std::string known;
    for (const std::string& name : versions) known += (known.empty() ? "" : ", ") + name;
    return bad("version '" + std::string(fields[3].substr(0, 40)) + "' is not one of the segment's versions (" + known + ")");
  }
  row.version = static_cast<Version>(version - versions.begin());
  std::uint32_t status = 0;
  const std::string_view s = fields[4];
  if (!all_digits(s) || s.size() > 3 || std::from_chars(s.data(), s.data() + s.size(), status).ec != std::errc())
    return bad("status_code '" + std::string(s.substr(0, 40)) + "' must be a whole number from 0 to 999");
  row.status_code = status;
  auto latency = parse_latency_ms(fields[5]);
  if (!latency) return latency.status();
  row.latency_us = *latency;
  return row;
}

}  // namespace

Expected<std::uint64_t> parse_latency_ms(std::string_view text) {
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(fraction)) || whole.size() > 9)
    return bad("response_time_ms '" + std::string(text.substr(0, 40)) + "' must be a non-negative decimal number of milliseconds");
  std::uint64_t ms = 0;
  std::from_chars(whole.data(), whole.data() + whole.size(), ms);
  if (ms > kMaxLatencyMs) return bad("response_time_ms '" + std::string(text) + "' is more than a day");
  // Microseconds are the first three decimals; the fourth decides the rounding (half up).
  std::uint64_t us = ms * 1000;
  std::uint64_t scale = 100;
  for (std::size_t i = 0; i < 3 && i < fraction.size(); ++i, scale /= 10)
    us += static_cast<std::uint64_t>(fraction[i] - '0') * scale;
  if (fraction.size() > 3 && fraction[3] >= '5') ++us;
  return us;
}

Expected<std::vector<ReplayRow>> read_replay_file(const std::string& path, const std::vector<std::string>& versions) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status{Errc::invalid_argument, "cannot read replay file '" + path + "'"};
  std::vector<ReplayRow> rows;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (number == 1 && line == kHeader) continue;
    if (line.empty() && in.peek() == std::char_traits<char>::eof()) break;  // a final newline
    auto row = parse_row(line, versions);
    if (!row) return Status{Errc::invalid_argument, path + ":" + std::to_string(number) + ": " + row.status().message()};
    rows.push_back(std::move(*row));
  }
  if (rows.empty()) return Status{Errc::invalid_argument, path + ": no rows to replay"};
  return rows;
}

GroundTruth run_replay(const std::vector<ReplayRow>& rows, std::size_t begin, std::size_t end) {
  GroundTruth truth;
  for (std::size_t i = begin; i < end; ++i) {
    const ReplayRow& r = rows[i];
    // Routing is not consulted for the version; it still gives the endpoint id and user hash.
    const Decision d = route(r.user_id, std::string_view(r.endpoint));
    record(d.endpoint, r.method, d.user_hash, r.version, r.status_code, r.latency_us);
    truth.add(r.version, r.method, r.status_code, r.latency_us);
  }
  const WriterStats stats = writer_stats();
  truth.ring_full_drops = stats.ring_full_drops;
  truth.had_no_ring = stats.ring < 0 ? 1 : 0;
  return truth;
}

}  // namespace canary::tools
