// SPDX-License-Identifier: Apache-2.0
// Replacing a file so that a crash at any point leaves either the old or the new contents:
// write a temporary beside it, fsync, rename over, fsync the directory.
#pragma once

#include <string>
#include <string_view>

#include "canary/status.hpp"

namespace canary {

Status write_file_atomically(const std::string& path, std::string_view contents);

// The whole file, or Errc::missing when it does not exist.
Expected<std::string> read_whole_file(const std::string& path);

}  // namespace canary
