// The aggregator's checkpoint: its window series (digests and bucket counts) and the rollout
// they belong to, tied to one segment by its creation time and creator pid, with a checksum over
// everything. Counts never depend on it: they are in the slabs.
#include <cstring>
#include <string_view>

#include "canary/aggregator.hpp"
#include "canary/atomic_file.hpp"
#include "canary/detail/xxhash.hpp"
#include "canary/segment.hpp"

namespace canary {

namespace {

constexpr std::string_view kMagic = "CANARYCK";
constexpr std::uint64_t kFormat = 3;  // 3: latency sketches beside the digests

}  // namespace

std::string Aggregator::checkpoint_path() const { return options_.state_dir + "/" + segment_->name() + ".checkpoint"; }

Status Aggregator::save_checkpoint() {
  const SegmentHeader& h = segment_->header();
  ByteWriter out;
  out.out().append(kMagic);
  out.u64(kFormat);
  out.u64(h.created_unix_ns);
  out.u64(h.creator_pid);
  out.u64(capacity_);
  out.u64(rollout_started_unix_ns_);
  out.u64(series_.size());
  for (WindowSeries& s : series_) s.serialize(out);
  out.u64(last_event_seq_);
  engine_->serialize(out);
  out.u64(XXH3_64bits(out.out().data(), out.out().size()));
  return write_file_atomically(checkpoint_path(), out.out());
}

Status Aggregator::load_checkpoint() {
  const std::string path = checkpoint_path();
  auto file = read_whole_file(path);
  if (!file) return {file.status().code(), file.status().code() == Errc::missing ? "no checkpoint at " + path : file.status().message()};
  const std::string& bytes = *file;
  auto refuse = [&](const char* why) { return Status{Errc::corrupt, "checkpoint " + path + " ignored: " + why}; };
  if (bytes.size() < kMagic.size() + 8 || std::string_view(bytes).substr(0, kMagic.size()) != kMagic)
    return refuse("not a checkpoint");
  std::uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, bytes.data() + bytes.size() - 8, 8);
  if (stored_sum != XXH3_64bits(bytes.data(), bytes.size() - 8)) return refuse("checksum mismatch");

  ByteReader in(std::string_view(bytes).substr(kMagic.size(), bytes.size() - kMagic.size() - 8));
  std::uint64_t format = 0, created = 0, pid = 0, capacity = 0, rollout = 0, count = 0;
  if (!in.u64(format) || format != kFormat) return refuse("another format");
  const SegmentHeader& h = segment_->header();
  if (!in.u64(created) || !in.u64(pid) || created != h.created_unix_ns || pid != h.creator_pid)
    return refuse("written for another segment");
  if (!in.u64(capacity) || capacity != capacity_ || !in.u64(rollout) || !in.u64(count) ||
      count != std::uint64_t{kVersionCount} * capacity_)
    return refuse("sizes do not match the segment");
  std::vector<WindowSeries> series;
  series.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    auto s = WindowSeries::deserialize(in);
    if (!s) return refuse("malformed series");
    series.push_back(std::move(*s));
  }
  std::uint64_t event_seq = 0;
  if (!in.u64(event_seq) || !engine_->deserialize(in)) return refuse("malformed decision state");
  if (!in.at_end()) return refuse("trailing bytes");
  series_ = std::move(series);
  last_event_seq_ = event_seq;
  rollout_started_unix_ns_ = rollout;
  return Status::Ok();
}

}  // namespace canary
