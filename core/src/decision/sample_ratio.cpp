#include "canary/decision/sample_ratio.hpp"

#include <cmath>
#include <cstring>

#include "canary/types.hpp"

namespace canary {

namespace {

constexpr std::size_t kBloomBits = std::size_t{1} << 26;  // 8 MiB: 4.6% false positives at 10M keys
constexpr std::uint64_t kBloomMask = kBloomBits - 1;
constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// splitmix64's finaliser: the Bloom positions share no bits with the routing bucket (hash % 10000).
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The probability that a new user is routed to the canary, as the router decides it.
double expected_canary_share(const ConfigData& c) {
  if (!c.enabled) return 0;
  if (c.hash_mode == static_cast<std::uint8_t>(HashMode::md5)) return static_cast<double>(c.share_bp / 100) / 100;
  return static_cast<double>(c.share_bp) / kMaxShareBp;
}

}  // namespace

SampleRatioCheck::SampleRatioCheck()
    : seen_(kBloomBits / 64, 0), pending_overall_(kMaxEndpoints), pending_endpoint_(kMaxEndpoints), endpoints_(kMaxEndpoints) {}

bool SampleRatioCheck::first_time(std::uint64_t key) {
  const std::uint64_t h = mix(key);
  const std::uint64_t h2 = mix(h ^ kGolden);
  bool fresh = false;
  for (std::uint64_t bit : {h & kBloomMask, (h >> 32) & kBloomMask, h2 & kBloomMask}) {
    std::uint64_t& word = seen_[bit >> 6];
    const std::uint64_t mask = std::uint64_t{1} << (bit & 63);
    fresh = fresh || (word & mask) == 0;
    word |= mask;
  }
  return fresh;
}

void SampleRatioCheck::add(std::uint64_t user_hash, std::uint32_t version, std::uint32_t endpoint) {
  if (user_hash == 0 || endpoint >= kMaxEndpoints || version > 1) return;  // no user id: always legacy
  if (first_time(user_hash)) {
    ++pending_overall_[endpoint].users;
    pending_overall_[endpoint].canary += version;
  }
  if (first_time(user_hash + (endpoint + 1) * kGolden)) {
    ++pending_endpoint_[endpoint].users;
    pending_endpoint_[endpoint].canary += version;
  }
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
  if (forget_users) std::fill(seen_.begin(), seen_.end(), 0);
  overall_.clear();
  for (stats::SplitTest& t : endpoints_) t.clear();
  for (std::size_t e = 0; e < kMaxEndpoints; ++e) pending_overall_[e] = pending_endpoint_[e] = Pending{};
  const std::uint64_t skipped = status_.skipped_intervals;
  status_ = SrmStatus{};
  status_.skipped_intervals = skipped;
}

}  // namespace canary
