// SPDX-License-Identifier: Apache-2.0
// What this build is: the project version from CMakeLists.txt and the git revision it was
// configured from (empty outside a checkout). --version, /metrics and the C ABI say them.
#pragma once

#include <string_view>

namespace canary {

std::string_view build_version() noexcept;
std::string_view build_revision() noexcept;

}  // namespace canary
