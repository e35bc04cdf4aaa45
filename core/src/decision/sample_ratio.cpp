#include "canary/decision/sample_ratio.hpp"

#include <cmath>
#include <cstring>

#include "canary/types.hpp"

namespace canary {

namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// The probability that a new user is routed to the canary, as the router decides it.
double expected_canary_share(const ConfigData& c) {
  if (!c.enabled) return 0;
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5)) return static_cast<double>(c.share_bp / 100) / 100;
  return static_cast<double>(c.share_bp) / kMaxShareBp;
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

std::vector<std::uint8_t> SampleRatioCheck::routing_shape(const ConfigData& c, std::uint32_t capacity) const {
  std::vector<std::uint8_t> shape(40 + capacity);
  std::memcpy(shape.data(), &c.share_bp, 4);
  std::memcpy(shape.data() + 4, &c.salt, 8);
  std::memcpy(shape.data() + 12, &c.override_count, 4);
  std::memcpy(shape.data() + 16, &c.rollout_started_unix_ns, 8);
  shape[24] = c.enabled;
  shape[25] = c.hash_mode;
  for (std::uint32_t e = 0; e < capacity && e < kMaxEndpoints; ++e) shape[40 + e] = e < c.endpoint_count && c.endpoints[e].canary;
  return shape;
}

void SampleRatioCheck::end_interval(const ConfigData& config, std::uint32_t capacity) {
  look_up_batch();
  std::vector<std::uint8_t> shape = routing_shape(config, capacity);
  // Counted only when the routing held through this interval and the one before: a record
  // drained now may have been routed a little before the last interval ended.
  const bool steady = shape == shape_now_ && shape_now_ == shape_before_;
  shape_before_ = std::move(shape_now_);
  shape_now_ = std::move(shape);
  const double p = expected_canary_share(config);
  const std::uint32_t endpoints = std::min<std::uint32_t>(capacity, kMaxEndpoints);
  std::uint32_t routed_endpoints = 0;
  bool any = false;
  for (std::uint32_t e = 0; e < endpoints; ++e) {
    const bool routes = e < config.endpoint_count && config.endpoints[e].canary;
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
