// SPDX-License-Identifier: Apache-2.0
// The segment every benchmark of one run shares: created once with a unique name, removed at exit.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "canary/config.hpp"
#include "canary/config_edit.hpp"
#include "canary/segment.hpp"

namespace canary::bench {

inline Segment& bench_segment() {
  struct Owner {
    Owner() : name("canary-bench-" + std::to_string(getpid())) {
      CreateOptions options;
      options.name = name;
      options.params.ring_count = 16;
      options.params.ring_records = 1u << 16;
      auto created = Segment::create(options, *make_initial_config({}, options.params.endpoint_capacity));
      if (!created) {
        std::cerr << "canary-bench: " << created.status().message() << '\n';
        std::exit(1);
      }
      segment = std::make_unique<Segment>(std::move(*created));
    }
    ~Owner() { (void)Segment::destroy(name); }
    std::string name;
    std::unique_ptr<Segment> segment;
  };
  static Owner owner;
  return *owner.segment;
}

// 36-character UUID-shaped user ids, as the figures assume.
inline const std::vector<std::string>& user_ids() {
  static const std::vector<std::string> ids = [] {
    std::mt19937_64 rng(42);
    std::vector<std::string> v;
    for (int i = 0; i < 1024; ++i) {
      char text[40];
      const std::uint64_t a = rng(), b = rng();
      std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                    static_cast<unsigned>(a >> 16 & 0xffff), static_cast<unsigned>(a & 0xffff),
                    static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffull));
      v.emplace_back(text);
    }
    return v;
  }();
  return ids;
}

// One request path for each of the seven seed templates.
inline const std::vector<std::string>& seed_paths() {
  static const std::vector<std::string> paths = {
      "/api/v2/recommend/personalized",
      "/api/v2/recommend/compare",
      "/api/v2/conversations/start",
      "/api/v2/conversations/5f0c2b7e-9d1a-4c3e-8a2b-1e4f6d7c8b9a/turn",
      "/api/v2/conversations/5f0c2b7e-9d1a-4c3e-8a2b-1e4f6d7c8b9a",
      "/api/v2/conversations/5f0c2b7e-9d1a-4c3e-8a2b-1e4f6d7c8b9a/close",
      "/api/v2/conversations?page=2",
  };
  return paths;
}

}  // namespace canary::bench
