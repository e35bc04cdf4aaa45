// SPDX-License-Identifier: Apache-2.0
#include "canary/decision/sample_ratio.hpp"

#include <cmath>
#include <cstring>

#include "canary/types.hpp"
#include "canary/versions.hpp"

namespace canary {

namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// The probability that a new user of the baseline or the candidate is routed to the candidate, as
// the router decides it: its buckets against the baseline's (other candidates' users are not seen).
double expected_candidate_share(const ConfigData& c, std::uint32_t candidate) {
  if (!c.enabled || c.switched) return 0;
  const std::uint32_t mine = c.versions[candidate].share_bp;
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5)) return static_cast<double>(mine / 100) / 100;
  const std::uint32_t baseline = baseline_share(c);
  return mine + baseline == 0 ? 0 : static_cast<double>(mine) / (mine + baseline);
}

}  // namespace

SampleRatioCheck::SampleRatioCheck()
    : seen_(std::size_t{1} << kBlockBits, Block{}),
      pending_overall_(kMaxEndpoints),
      pending_endpoint_(kMaxEndpoints),
      endpoints_(kMaxEndpoints) {
  batch_.reserve(kBatch);
}

namespace {

// Sets a key's 3 bits in its user's block (from the key's mixed hash h); true if one was unset.
bool first_time(std::uint64_t* bits, std::uint64_t h) {
  bool fresh = false;
  for (unsigned i = 0; i < 3; ++i) {
    const std::uint64_t bit = (h >> (9 * i)) & 511;
    const std::uint64_t mask = std::uint64_t{1} << (bit & 63);
    fresh = fresh || (bits[bit >> 6] & mask) == 0;
    bits[bit >> 6] |= mask;
  }
  return fresh;
}

}  // namespace

void SampleRatioCheck::look_up(const Seen& s) {
  std::uint64_t* bits = seen_[s.block].bits;
  if (first_time(bits, mix(s.user_hash ^ kGolden))) {
    ++pending_overall_[s.endpoint].users;
    pending_overall_[s.endpoint].canary += s.version;
  }
  if (first_time(bits, mix(s.user_hash + (s.endpoint + 2ull) * kGolden))) {
    ++pending_endpoint_[s.endpoint].users;
    pending_endpoint_[s.endpoint].canary += s.version;
  }
}

void SampleRatioCheck::look_up_batch() {
  constexpr std::size_t kAhead = 16;  // lines in flight while one is looked up
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    if (i + kAhead < batch_.size()) __builtin_prefetch(&seen_[batch_[i + kAhead].block], 1);
    look_up(batch_[i]);
  }
  batch_.clear();
}

std::vector<std::uint8_t> SampleRatioCheck::routing_shape(const ConfigData& c, std::uint32_t capacity,
                                                          std::uint32_t candidate) const {
  std::vector<std::uint8_t> shape(40 + capacity + 4 * kMaxVersions);
  for (std::uint32_t v = 0; v < kMaxVersions; ++v)
    std::memcpy(shape.data() + 40 + capacity + 4 * v, &c.versions[v].share_bp, 4);
  shape[26] = c.switched;
  std::memcpy(shape.data() + 4, &c.salt, 8);
  std::memcpy(shape.data() + 12, &c.override_count, 4);
  std::memcpy(shape.data() + 16, &c.rollout_started_unix_ns, 8);
  shape[24] = c.enabled;
  shape[25] = c.hash_mode;
  for (std::uint32_t e = 0; e < capacity && e < kMaxEndpoints; ++e) shape[40 + e] = e < c.endpoint_count && endpoint_on(c.versions[candidate], e);
  return shape;
}

void SampleRatioCheck::end_interval(const ConfigData& config, std::uint32_t capacity, std::uint32_t candidate) {
  look_up_batch();
  std::vector<std::uint8_t> shape = routing_shape(config, capacity, candidate);
  // Counted only when the routing held through this interval and the one before: a record
  // drained now may have been routed a little before the last interval ended.
  const bool steady = shape == shape_now_ && shape_now_ == shape_before_;
  shape_before_ = std::move(shape_now_);
  shape_now_ = std::move(shape);
  const double p = expected_candidate_share(config, candidate);
  const std::uint32_t endpoints = std::min<std::uint32_t>(capacity, kMaxEndpoints);
  std::uint32_t routed_endpoints = 0;
  bool any = false;
  for (std::uint32_t e = 0; e < endpoints; ++e) {
    const bool routes = e < config.endpoint_count && endpoint_on(config.versions[candidate], e);
    routed_endpoints += routes ? 1 : 0;
    if (steady && routes) {
      overall_.add(p, pending_overall_[e].users, pending_overall_[e].canary);
      endpoints_[e].add(p, pending_endpoint_[e].users, pending_endpoint_[e].canary);
    }
    any = any || pending_overall_[e].users > 0;
    pending_overall_[e] = pending_endpoint_[e] = Pending{};
  }
  if (!steady && any) ++status_.skipped_intervals;
  if (status_.detected) return;  // latched until a restart

  auto report = [&](const stats::SplitTest& t, double level, const std::string& where) {
    status_.endpoint = where;
    status_.observed = t.observed();
    status_.expected = t.expected();
    status_.requests = t.units();
    status_.log_evidence = t.log_evidence();
    status_.log_evidence_level = level;
    status_.detected = status_.log_evidence >= level;
  };
  report(overall_, std::log(2 / kAlpha), "");
  if (status_.detected || routed_endpoints < 2) return;  // one endpoint: the overall test is it
  const double level = std::log(2 * routed_endpoints / kAlpha);
  for (std::uint32_t e = 0; e < endpoints; ++e) {
    if (endpoints_[e].units() == 0 || endpoints_[e].log_evidence() < level) continue;
    const EndpointEntry& entry = config.endpoints[e];
    report(endpoints_[e], level, std::string(entry.path, std::min<std::size_t>(entry.path_len, sizeof entry.path)));
    return;
  }
}

void SampleRatioCheck::restart(bool forget_users) {
  look_up_batch();  // what was drained before the restart belongs to the old test
  if (forget_users) std::fill(seen_.begin(), seen_.end(), Block{});
  overall_.clear();
  for (stats::SplitTest& t : endpoints_) t.clear();
  for (std::size_t e = 0; e < kMaxEndpoints; ++e) pending_overall_[e] = pending_endpoint_[e] = Pending{};
  const std::uint64_t skipped = status_.skipped_intervals;
  status_ = SrmStatus{};
  status_.skipped_intervals = skipped;
}

}  // namespace canary
