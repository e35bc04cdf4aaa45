// SPDX-License-Identifier: Apache-2.0
// `canary-ctl migrate`: a segment of an earlier layout (6, 7 or 8) rebuilt as the current one under the same
// name, so that upgrading canary-shm is not a restart of the service. The new segment carries the
// old one's config: shares, endpoints and their flags, pins, salt, hash, ramp, fail-safe, and the
// deployment's state; every user routes to the same version before and after. Running workers
// re-attach by themselves within a second (writer.hpp's watcher); an aggregator exits when its
// segment is replaced, for its supervisor to start it on the new one. Counts start again at zero.
#pragma once

#include <string>

#include "canary/layout.hpp"
#include "canary/status.hpp"

namespace canary {

namespace layout6 {
struct ConfigData;
}
namespace layout7 {
struct ConfigData;
}
namespace layout8 {
struct ConfigData;
}

struct MigrateOptions {
  std::string name;
  bool even_if_live = false;  // replace it even under a live aggregator
};

// The layout it migrated from, or why not (not there, already current, a layout it cannot read,
// a corrupt config, a live aggregator).
Expected<std::uint32_t> migrate_segment(const MigrateOptions& options);

// The layout-6, 7 and 8 configs as current ones (exposed for tests).
Expected<ConfigData> config_from_layout6(const layout6::ConfigData& old, std::uint32_t endpoint_capacity);
Expected<ConfigData> config_from_layout7(const layout7::ConfigData& old, std::uint32_t endpoint_capacity);
Expected<ConfigData> config_from_layout8(const layout8::ConfigData& old, std::uint32_t endpoint_capacity);

}  // namespace canary
