// SPDX-License-Identifier: Apache-2.0
#include "canary/experiment/user_table.hpp"

#include <utility>

namespace canary::experiment {

namespace {
constexpr std::size_t kFirstSlots = 1024;
}

std::size_t UserTable::find(std::uint64_t user) const {
  if (keys_.empty()) return kNone;
  const std::size_t mask = keys_.size() - 1;
  // At most 7/8 full, so a free slot ends every probe.
  for (std::size_t i = home(user);; i = (i + 1) & mask) {
    if (!(meta_[i] & 1)) return kNone;
    if (keys_[i] == user) return i;
  }
}

std::size_t UserTable::insert(std::uint64_t user, std::uint8_t arm) {
  if ((size_ + 1) * 8 > keys_.size() * 7) grow();
  const std::size_t mask = keys_.size() - 1;
  std::size_t i = home(user);
  while (meta_[i] & 1) i = (i + 1) & mask;
  keys_[i] = user;
  meta_[i] = static_cast<std::uint8_t>(1u | (arm & 0x7u) << 1);
  for (std::uint32_t m = 0; m < metrics_; ++m) values_[i * metrics_ + m] = 0;
  ++size_;
  return i;
}

void UserTable::grow() {
  UserTable bigger(metrics_);
  const std::size_t slots = keys_.empty() ? kFirstSlots : keys_.size() * 2;
  bigger.keys_.assign(slots, 0);
  bigger.meta_.assign(slots, 0);
  bigger.values_.assign(slots * metrics_, 0.0);
  bigger.shift_ = static_cast<std::uint32_t>(64 - __builtin_ctzll(slots));
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (!(meta_[i] & 1)) continue;
    std::size_t j = bigger.home(keys_[i]);
    while (bigger.meta_[j] & 1) j = (j + 1) & (slots - 1);
    bigger.keys_[j] = keys_[i];
    bigger.meta_[j] = meta_[i];
    for (std::uint32_t m = 0; m < metrics_; ++m) bigger.values_[j * metrics_ + m] = values_[i * metrics_ + m];
  }
  bigger.size_ = size_;
  *this = std::move(bigger);
}

}  // namespace canary::experiment
