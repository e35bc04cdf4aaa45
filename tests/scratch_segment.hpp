// SPDX-License-Identifier: Apache-2.0
// A segment with a name no other test uses, removed when the test ends.
#pragma once

#include <unistd.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "canary/config_edit.hpp"
#include "canary/segment.hpp"

namespace canary::testing {

inline SegmentParams small_params() {
  SegmentParams p;
  p.cpu_slots = 4;
  p.endpoint_capacity = 16;
  p.ring_count = 8;
  p.ring_records = 1024;
  return p;
}

inline std::string unique_segment_name(const char* tag) {
  static std::atomic<int> counter{0};
  return std::string("canary-test-") + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

class ScratchSegment {
 public:
  explicit ScratchSegment(const char* tag = "t", SegmentParams params = small_params(), InitialConfig init = {})
      : name_(unique_segment_name(tag)) {
    CreateOptions options;
    options.name = name_;
    options.params = params;
    auto config = make_initial_config(init, params.endpoint_capacity);
    if (!config) throw std::runtime_error(config.status().message());
    auto created = Segment::create(options, *config);
    if (!created) throw std::runtime_error(created.status().message());
    segment_ = std::make_unique<Segment>(std::move(*created));
  }
  ~ScratchSegment() { (void)Segment::destroy(name_); }
  ScratchSegment(const ScratchSegment&) = delete;
  ScratchSegment& operator=(const ScratchSegment&) = delete;

  Segment& segment() { return *segment_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::unique_ptr<Segment> segment_;
};

}  // namespace canary::testing
