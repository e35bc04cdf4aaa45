// SPDX-License-Identifier: Apache-2.0
#include "canary/experiment/tracker.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "canary/detail/two_copy.hpp"
#include "canary/fixed_text.hpp"
#include "canary/log.hpp"
#include "canary/ring.hpp"
#include "canary/segment.hpp"

namespace canary::experiment {

static_assert(kMaxArms <= UserTable::kMaxArms && kMaxExperimentMetrics <= UserTable::kMaxMetrics,
              "a user's arm and conversions fit the table's byte");

void Tracker::sync(const ConfigData& config) {
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    const ExperimentEntry& e = config.experiments[x];
    Slot& slot = slots_[x];
    const auto state = static_cast<ExperimentState>(e.state);
    const std::uint64_t created = state == ExperimentState::free ? 0 : e.created_unix_ns;
    if (created != slot.created_unix_ns) {
      users_ -= slot.users.size();
      slot = Slot{};
      slot.created_unix_ns = created;
      slot.totals.created_unix_ns = created;
      slot.users = UserTable(std::min<std::uint32_t>(e.metric_count, kMaxExperimentMetrics));
    }
    slot.state = state;
    // Drops count from the first start, whoever started it (the base is in the config).
    slot.started = created != 0 && e.started_unix_ns != 0;
    slot.drops_base = e.drops_at_start;
    slot.metric_count = e.metric_count;
    for (std::uint32_t m = 0; m < kMaxExperimentMetrics; ++m) slot.kinds[m] = static_cast<MetricKind>(e.metrics[m].kind);
  }
}

std::size_t Tracker::user_for(Slot& slot, std::uint32_t experiment, const RingRecord& r) {
  const std::uint32_t arm = record_arm(r);
  if (const std::size_t found = slot.users.find(r.user_hash); found != UserTable::kNone) {
    if (slot.users.arm(found) == arm) return found;
    ++slot.totals.arm_mismatches;  // a worker's bug or a salt change: counted, not mixed in
    return UserTable::kNone;
  }
  if (users_ >= max_users_) {
    ++slot.totals.users_untracked;
    if (!slot.warned_full) {
      slot.warned_full = true;
      log(LogLevel::error, "experiment users beyond the aggregator's bound are not counted (--experiment-users)",
          {{"experiment_slot", experiment}, {"max_users", max_users_}});
    }
    return UserTable::kNone;
  }
  ++users_;
  ++slot.totals.arms[arm].users;
  return slot.users.insert(r.user_hash, static_cast<std::uint8_t>(arm));
}

void Tracker::add(const RingRecord& r) {
  const std::uint32_t x = record_experiment(r);
  Slot& slot = slots_[x];
  changed_ = true;
  const bool declared = r.kind == kRecordExposure || record_metric(r) < slot.users.metric_count();
  // Only a running experiment counts; a record in flight across a stop is counted as ignored.
  if (slot.state != ExperimentState::running || !declared || record_arm(r) >= kMaxArms) {
    ++slot.totals.records_ignored;
    return;
  }
  const std::size_t user = user_for(slot, x, r);
  if (user == UserTable::kNone) return;
  ArmTotals& arm = slot.totals.arms[slot.users.arm(user)];
  if (r.kind == kRecordExposure) {
    ++arm.exposures;
    return;
  }
  const std::uint32_t m = record_metric(r);
  ArmMetricTotals& t = arm.metrics[m];
  ++t.events;
  double& x_old = slot.users.value(user, m);
  double x_new = x_old;
  switch (slot.kinds[m]) {
    case MetricKind::conversion:
      if (record_value(r) <= 0 || slot.users.converted(user, m)) return;
      slot.users.set_converted(user, m);
      x_new = 1;
      break;
    case MetricKind::sum: x_new = x_old + record_value(r); break;
    case MetricKind::count: x_new = x_old + 1; break;
  }
  // The arm's sums follow each user's value as it changes: one user counts once, whatever number
  // of events made their value.
  t.sum += x_new - x_old;
  t.sum_squares += x_new * x_new - x_old * x_old;
  x_old = x_new;
}

void Tracker::fill(ExperimentResultsData& out, const std::uint64_t (&drops_now)[kMaxExperiments]) const {
  out.users_tracked = users_;
  out.users_limit = max_users_;
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    out.experiments[x] = slots_[x].totals;
    out.experiments[x].records_dropped = slots_[x].started ? drops_now[x] - std::min(drops_now[x], slots_[x].drops_base) : 0;
  }
}

void Tracker::save(ByteWriter& out) const {
  for (const Slot& slot : slots_) {
    out.u64(slot.created_unix_ns);
    out.u64(slot.drops_base);
    out.bytes(std::string_view(reinterpret_cast<const char*>(&slot.totals), sizeof slot.totals));
    out.u64(slot.users.size());
    // Each user as hash, arm | conversions << 8, and kMaxExperimentMetrics values (0 past the
    // experiment's own metrics): the file's format does not depend on the experiment's.
    slot.users.for_each([&](std::uint64_t hash, std::uint8_t arm, std::uint8_t converted, const double* values) {
      out.u64(hash);
      out.u64(std::uint64_t{arm} | std::uint64_t{converted} << 8);
      for (std::uint32_t m = 0; m < kMaxExperimentMetrics; ++m) out.f64(m < slot.users.metric_count() ? values[m] : 0.0);
    });
  }
}

Status Tracker::load(ByteReader& in) {
  auto refuse = [](const char* why) { return Status{Errc::corrupt, std::string("experiment state ignored: ") + why}; };
  Slot loaded[kMaxExperiments];
  std::uint64_t users = 0;
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    Slot& slot = loaded[x];
    std::uint64_t count = 0;
    std::string_view totals;
    if (!in.u64(slot.created_unix_ns) || !in.u64(slot.drops_base) || !in.bytes(totals, sizeof(ExperimentTotals)) ||
        totals.size() != sizeof(ExperimentTotals) || !in.u64(count))
      return refuse("truncated");
    std::memcpy(&slot.totals, totals.data(), sizeof slot.totals);
    // Only the experiment the config has in this slot now is carried over.
    const bool keep = slot.created_unix_ns != 0 && slot.created_unix_ns == slots_[x].created_unix_ns;
    if (count > max_users_ || users + count > max_users_) return refuse("more users than --experiment-users allows");
    slot.users = UserTable(slots_[x].users.metric_count());
    for (std::uint64_t i = 0; i < count; ++i) {
      std::uint64_t hash = 0, packed = 0;
      double values[kMaxExperimentMetrics];
      if (!in.u64(hash) || !in.u64(packed)) return refuse("truncated");
      for (double& v : values)
        if (!in.f64(v) || !std::isfinite(v)) return refuse("a user's value is not a finite number");
      const auto arm = static_cast<std::uint8_t>(packed & 0xFF);
      const auto converted = static_cast<std::uint8_t>(packed >> 8 & 0xFF);
      if (arm >= kMaxArms || packed >> 16 != 0 || converted >> kMaxExperimentMetrics != 0)
        return refuse("a user's arm is out of range");
      if (!keep) continue;
      if (slot.users.find(hash) != UserTable::kNone) return refuse("a user appears twice");
      const std::size_t at = slot.users.insert(hash, arm);
      for (std::uint32_t m = 0; m < slot.users.metric_count(); ++m) {
        slot.users.value(at, m) = values[m];
        if (converted >> m & 1) slot.users.set_converted(at, m);
      }
    }
    if (!keep) {
      loaded[x] = Slot{};
      continue;
    }
    slot.totals.created_unix_ns = slot.created_unix_ns;
    users += slot.users.size();
  }
  if (!in.at_end()) return refuse("trailing bytes");
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    if (loaded[x].created_unix_ns == 0) continue;
    loaded[x].state = slots_[x].state;
    loaded[x].started = slots_[x].started;
    loaded[x].drops_base = slots_[x].drops_base;
    loaded[x].metric_count = slots_[x].metric_count;
    std::memcpy(loaded[x].kinds, slots_[x].kinds, sizeof(loaded[x].kinds));
    users_ -= slots_[x].users.size();
    slots_[x] = std::move(loaded[x]);
    users_ += slots_[x].users.size();
  }
  return Status::Ok();
}

std::size_t Tracker::heap_bytes() const {
  std::size_t n = 0;
  for (const Slot& s : slots_) n += s.users.heap_bytes();
  return n;
}

void drops_from(const Segment& segment, std::uint64_t (&out)[kMaxExperiments]) {
  const RingsView rings = RingsView::of(segment);
  const RingsHeader& h = rings.header();
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x)
    // relaxed: counts, read for display.
    out[x] = h.experiment_no_ring_drops[x].load(std::memory_order_relaxed) +
             h.retired_experiment_drops[x].load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < rings.count; ++i) {
    const RingControl& ring = rings.control(i);
    for (std::uint32_t x = 0; x < kMaxExperiments; ++x) out[x] += ring.experiment_drops[x].load(std::memory_order_relaxed);
  }
}

void publish_results(Segment& segment, ExperimentResultsData& next) noexcept {
  detail::publish_two_copy(segment.experiment_results(), next);
}

bool read_results(const Segment& segment, ExperimentResultsData& out) noexcept {
  const ExperimentResultsBlock& block = segment.experiment_results();
  // acquire: pairs with the publisher's release; 0 means nothing was ever published.
  if (block.published.load(std::memory_order_acquire) == 0) return false;
  return detail::read_two_copy(block, out, 4, [](const ExperimentResultsData& d) { return d.generated_unix_ns != 0; }) != 0;
}

}  // namespace canary::experiment
