// SPDX-License-Identifier: Apache-2.0
#include "canary/decision/user_buckets.hpp"

#include <algorithm>

#include "canary/decision/design_effect.hpp"

namespace canary {

namespace {

double design_effect(double sum_squared_residuals, double n, double k) {
  return cluster_design_effect(sum_squared_residuals, UserBuckets::kBuckets, n, k);
}

}  // namespace

void UserBuckets::add(std::uint32_t side, std::uint32_t endpoint, std::uint64_t user_hash, bool error, bool unavailable) {
  if (side >= kSides || endpoint >= kMaxEndpoints) return;
  Cell& c = cells(side * kMaxEndpoints + endpoint)[bucket_of(user_hash)];
  ++c.requests;
  c.errors += error ? 1 : 0;
  c.unavailable += unavailable ? 1 : 0;
}

void UserBuckets::merge(const UserBucketsInterval& interval) {
  if (!interval.table_) return;
  for (std::size_t pair = 0; pair < cells_.size(); ++pair) {
    if (!interval.touched_[pair]) continue;
    std::vector<Cell>& to = cells(pair);
    const auto& from = (*interval.table_)[pair];
    for (std::uint32_t b = 0; b < kBuckets; ++b) {
      to[b].requests += from[b].requests;
      to[b].errors += from[b].errors;
      to[b].unavailable += from[b].unavailable;
    }
  }
}

void UserBucketsInterval::clear() {
  if (table_)
    for (std::size_t pair = 0; pair < touched_.size(); ++pair)
      if (touched_[pair]) (*table_)[pair].fill(Cell{});
  touched_.fill(false);
  records_ = 0;
}

UserBuckets::Tally UserBuckets::tally(std::uint32_t side, std::uint32_t endpoint) const {
  std::vector<bool> only(kMaxEndpoints, false);
  if (endpoint < kMaxEndpoints) only[endpoint] = true;
  return total(side, only);
}

UserBuckets::Tally UserBuckets::total(std::uint32_t side, const std::vector<bool>& included) const {
  Tally t;
  if (side >= kSides) return t;
  Cell bucket[kBuckets] = {};
  for (std::uint32_t e = 0; e < kMaxEndpoints; ++e) {
    const std::vector<Cell>& cells = cells_[side * kMaxEndpoints + e];
    if (cells.empty() || (!included.empty() && (e >= included.size() || !included[e]))) continue;
    for (std::uint32_t b = 0; b < kBuckets; ++b) {
      bucket[b].requests += cells[b].requests;
      bucket[b].errors += cells[b].errors;
      bucket[b].unavailable += cells[b].unavailable;
    }
  }
  for (const Cell& c : bucket) {
    t.requests += c.requests;
    t.errors += c.errors;
    t.unavailable += c.unavailable;
  }
  const auto n = static_cast<double>(t.requests);
  const double error_rate = n > 0 ? static_cast<double>(t.errors) / n : 0;
  const double unavailable_rate = n > 0 ? static_cast<double>(t.unavailable) / n : 0;
  double errors_ss = 0, unavailable_ss = 0;
  for (const Cell& c : bucket) {
    const auto requests = static_cast<double>(c.requests);
    const double e = static_cast<double>(c.errors) - error_rate * requests;
    const double u = static_cast<double>(c.unavailable) - unavailable_rate * requests;
    errors_ss += e * e;
    unavailable_ss += u * u;
  }
  t.design_effect = design_effect(errors_ss, n, static_cast<double>(t.errors));
  t.unavailable_design_effect = design_effect(unavailable_ss, n, static_cast<double>(t.unavailable));
  return t;
}

std::size_t UserBuckets::heap_bytes() const {
  std::size_t n = 0;
  for (const std::vector<Cell>& c : cells_) n += c.capacity() * sizeof(Cell);
  return n;
}

// Only the side-endpoint pairs that have buckets: (index, then kBuckets cells), ended by an index
// past the last.
void UserBuckets::serialize(ByteWriter& out) const {
  for (std::size_t i = 0; i < cells_.size(); ++i) {
    if (cells_[i].empty()) continue;
    out.u64(i);
    for (const Cell& c : cells_[i])
      for (std::uint64_t x : {c.requests, c.errors, c.unavailable}) out.u64(x);
  }
  out.u64(cells_.size());
}

bool UserBuckets::deserialize(ByteReader& in) {
  UserBuckets read;
  for (std::uint64_t last = 0, i = 0;; last = i + 1) {
    if (!in.u64(i)) return false;
    if (i == cells_.size()) break;
    if (i > cells_.size() || i < last) return false;  // in order, each once
    std::vector<Cell>& cells = read.cells_[i];
    cells.resize(kBuckets);
    for (Cell& c : cells)
      if (!in.u64(c.requests) || !in.u64(c.errors) || !in.u64(c.unavailable) || c.errors > c.requests ||
          c.unavailable > c.requests)
        return false;
  }
  *this = std::move(read);
  return true;
}

void add_user_evidence(const UserBuckets& users, const std::vector<std::string>& endpoint_names, Evidence& e) {
  std::vector<bool> included(endpoint_names.size());
  for (std::size_t id = 0; id < endpoint_names.size(); ++id) {
    if (endpoint_names[id].empty()) continue;
    included[id] = true;
    const auto endpoint = static_cast<std::uint32_t>(id);
    const UserBuckets::Tally legacy = users.tally(0, endpoint), canary = users.tally(1, endpoint);
    e.strata.push_back({endpoint_names[id], canary.requests, canary.errors, legacy.requests, legacy.errors, legacy.design_effect});
  }
  if (e.strata.empty()) included.clear();  // nothing named: every endpoint, unstratified
  for (std::uint32_t side = 0; side < UserBuckets::kSides; ++side) {
    const UserBuckets::Tally t = users.total(side, included);
    VersionEvidence& v = side == 1 ? e.canary : e.legacy;
    v.design_effect = t.design_effect;
    v.unavailable_design_effect = t.unavailable_design_effect;
  }
}

}  // namespace canary
