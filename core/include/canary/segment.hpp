// SPDX-License-Identifier: Apache-2.0
// A named POSIX shared-memory segment holding one canary-shm layout: create, attach, destroy.
// Attaching validates everything in the header before anything else is read, and keeps its own
// copy of the geometry, so later changes to the header by a faulty process cannot move a region.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "canary/geometry.hpp"
#include "canary/layout.hpp"
#include "canary/status.hpp"

namespace canary {

inline constexpr std::string_view kDefaultSegmentName = "canary";

// The name tools use when none is given: $CANARY_SEGMENT, else "canary".
std::string default_segment_name();

// Empty when `name` is usable (1..200 of [A-Za-z0-9._-], not starting with '.'), else why not.
std::string check_segment_name(std::string_view name);

enum class Access { read_only, read_write };

// The trust check of attach() for a descriptor of a segment's file that attach() does not open
// (canary-ctl migrate reads old layouts): its owner is this user or root, and others may not write it.
Status check_segment_owner(std::string_view name, int fd);

struct CreateOptions {
  std::string name;
  SegmentParams params;  // cpu_slots 0 means "every possible CPU"
  mode_t mode = 0600;
  std::string group;  // empty: the creator's group
  bool replace_existing = false;
  // A mode that lets every user write is refused unless this is set (and then marked in the
  // header, so that attaching accepts it).
  bool allow_world_writable = false;
};

class Segment {
 public:
  // Creates the segment with `initial` as its first published config (generation 1). The header's
  // magic is stored last, so nobody attaches to a half-made segment.
  static Expected<Segment> create(const CreateOptions& options, const ConfigData& initial);
  // Refuses (Errc::untrusted) a segment owned by another user than this one or root, or writable
  // by every user without its creator's consent (CreateOptions::allow_world_writable).
  static Expected<Segment> attach(std::string_view name, Access access);
  static Status destroy(std::string_view name);

  // Whether the name still refers to the file this object mapped: Errc::missing once it was
  // removed, Errc::refused once it names another file (init --force, a migration). One shm_open
  // and two fstats; the aggregator asks every interval.
  Status check_still_named() const;

  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  ~Segment();

  const std::string& name() const;
  Access access() const;
  int fd() const;  // the descriptor the mapping came from; OFD locks are taken on it
  const SegmentGeometry& geometry() const;
  std::byte* base() const;

  const SegmentHeader& header() const { return *reinterpret_cast<const SegmentHeader*>(base()); }
  ConfigBlock& config() const { return *region_as<ConfigBlock>(RegionId::config); }
  RingsHeader& rings_header() const { return *region_as<RingsHeader>(RegionId::rings); }
  AggregatorArea& aggregator() const { return *region_as<AggregatorArea>(RegionId::aggregator); }
  SummaryBlock& summary() const {
    return *reinterpret_cast<SummaryBlock*>(region(RegionId::aggregator) + kSummaryOffset);
  }
  ExperimentResultsBlock& experiment_results() const {
    return *reinterpret_cast<ExperimentResultsBlock*>(region(RegionId::aggregator) + kExperimentResultsOffset);
  }
  std::byte* region(RegionId id) const { return base() + geometry().region(id).offset; }

  template <class T>
  T* region_as(RegionId id) const {
    return reinterpret_cast<T*>(region(id));
  }

 private:
  struct Impl;
  explicit Segment(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace canary
