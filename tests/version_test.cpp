// SPDX-License-Identifier: Apache-2.0
// Every tool answers --version with the project version and the segment layout (SPEC section 12),
// and every source file carries its licence line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "canary/layout.hpp"
#include "run_tool.hpp"

namespace canary::testing {
namespace {

TEST(Version, EveryToolNamesItsVersionAndLayout) {
  const std::string expected_tail = std::string(" ") + CANARY_PROJECT_VERSION + " (layout " + std::to_string(kLayoutVersion);
  for (const auto& [name, path] : {std::pair<std::string, std::string>{"canary-ctl", CANARY_CTL_PATH},
                                   {"canary-shm-dump", CANARY_DUMP_PATH},
                                   {"canary-loadgen", CANARY_LOADGEN_PATH},
                                   {"canary-aggregator", CANARY_AGGREGATOR_PATH},
                                   {"canary-fleet", CANARY_FLEET_PATH},
                                   {"canary-demo-server", CANARY_DEMO_SERVER_PATH}}) {
    const ToolResult r = run_tool(path, {"--version"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out.rfind(name + expected_tail, 0), 0u) << r.out;
    EXPECT_EQ(r.out.back(), '\n');
  }
}

TEST(Licence, EverySourceFileCarriesTheSpdxLine) {
  namespace fs = std::filesystem;
  std::size_t checked = 0;
  for (const char* dir : {"core", "shm_tools", "bench", "tests", "examples", "scripts"}) {
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(CANARY_SOURCE_DIR) / dir)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".cpp" && ext != ".hpp" && ext != ".h" && ext != ".sh")) continue;
      std::ifstream in(entry.path());
      std::string first, second;
      std::getline(in, first);
      std::getline(in, second);
      EXPECT_TRUE(first.find("SPDX-License-Identifier: Apache-2.0") != std::string::npos ||
                  second.find("SPDX-License-Identifier: Apache-2.0") != std::string::npos)
          << entry.path();
      ++checked;
    }
  }
  EXPECT_GT(checked, 100u);
  EXPECT_TRUE(fs::exists(fs::path(CANARY_SOURCE_DIR) / "LICENSE"));
  EXPECT_TRUE(fs::exists(fs::path(CANARY_SOURCE_DIR) / "NOTICE"));
}

}  // namespace
}  // namespace canary::testing
