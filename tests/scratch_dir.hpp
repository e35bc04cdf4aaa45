// SPDX-License-Identifier: Apache-2.0
// A fresh directory under /tmp (state dirs, policy files, Prometheus' storage), removed with
// everything in it when the test ends.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace canary::testing {

struct ScratchDir {
  explicit ScratchDir(const std::string& tag) {
    std::string pattern = "/tmp/canary-" + tag + "-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path = pattern;
  }
  ~ScratchDir() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string path;  // empty if mkdtemp failed: the test's file operations then fail and say so
};

}  // namespace canary::testing
