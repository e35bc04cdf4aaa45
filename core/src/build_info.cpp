// SPDX-License-Identifier: Apache-2.0
#include "canary/build_info.hpp"

namespace canary {

// CANARY_VERSION and CANARY_REVISION come from core/CMakeLists.txt.
std::string_view build_version() noexcept { return CANARY_VERSION; }
std::string_view build_revision() noexcept { return CANARY_REVISION; }

}  // namespace canary
