// SPDX-License-Identifier: Apache-2.0
#include "canary/memory_budget.hpp"

#include <array>

namespace canary {

namespace {

// The oldest data first: a day in 30-minute buckets costs an operator less than an hour in
// 2-minute ones. Each step doubles one level's factor (WindowSeries::kMaxCoarsening is 8).
constexpr std::array<Coarsening, 9> kPlan = {{
    {3, 2}, {2, 2}, {3, 4}, {2, 4}, {1, 2}, {3, 8}, {2, 8}, {1, 4}, {1, 8},
}};

}  // namespace

std::optional<Coarsening> MemoryBudget::check(const MemoryParts& parts) {
  last_ = parts;
  if (limit_ == 0 || parts.total() < limit_) {
    exhausted_ = false;
    return std::nullopt;
  }
  if (next_ == kPlan.size()) {
    exhausted_ = true;
    return std::nullopt;
  }
  return kPlan[next_++];
}

std::uint32_t MemoryBudget::factor(std::uint32_t level) const {
  std::uint32_t f = 1;
  for (std::uint32_t i = 0; i < next_; ++i)
    if (kPlan[i].level == level) f = kPlan[i].factor;
  return f;
}

}  // namespace canary
