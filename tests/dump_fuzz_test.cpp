// SPDX-License-Identifier: Apache-2.0
// canary-shm-dump against truncated, bit-flipped and random segments: it must answer 0 or 3 (and
// say why), never crash, never hang. CI runs this against the AddressSanitizer build too.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "run_tool.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::run_tool;
using testing::unique_segment_name;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_segment(const std::string& name, const std::string& bytes) {
  (void)Segment::destroy(name);
  const int fd = shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  close(fd);
}

TEST(DumpFuzz, CorruptSegmentsNeverCrashOrHangTheDump) {
  const std::string base_name = unique_segment_name("fuzzbase");
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", base_name, "init", "--cpus", "2", "--endpoints", "8", "--rings", "4",
                                       "--ring-records", "256"})
                .exit_code,
            0);
  ASSERT_EQ(run_tool(CANARY_LOADGEN_PATH, {"--segment", base_name, "--workers", "2", "--requests", "500"}).exit_code, 0);
  ASSERT_EQ(run_tool(CANARY_CTL_PATH, {"--segment", base_name, "pin", "--user", "u", "--version", "canary"}).exit_code, 0);
  const std::string base = read_file("/dev/shm/" + base_name);
  (void)Segment::destroy(base_name);
  ASSERT_GT(base.size(), 100000u);

  // Offsets worth aiming at: the header, the config block, and the ring controls.
  auto segment_bytes = [&](std::mt19937_64& rng) -> std::size_t {
    switch (rng() % 4) {
      case 0:
        return rng() % kPageSize;
      case 1:
        return kPageSize + rng() % sizeof(ConfigBlock);
      default:
        return rng() % base.size();
    }
  };
  const std::string name = unique_segment_name("fuzz");
  std::mt19937_64 rng(31337);
  int answered[4] = {};
  for (int round = 0; round < 300; ++round) {
    std::string bytes = base;
    switch (round % 5) {
      case 0:  // truncated anywhere (never to zero: an empty file is waited on for a second)
        bytes.resize(1 + rng() % (bytes.size() - 1));
        break;
      case 1:  // a few bit flips
        for (int i = 0, n = 1 + static_cast<int>(rng() % 8); i < n; ++i)
          bytes[segment_bytes(rng)] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 2:  // a run of random bytes
        for (std::size_t at = segment_bytes(rng), i = 0; i < 64 && at + i < bytes.size(); ++i)
          bytes[at + i] = static_cast<char>(rng());
        break;
      case 3:  // random everything after a valid magic
        for (std::size_t i = 8; i < 4096; ++i) bytes[i] = static_cast<char>(rng());
        break;
      default:  // nothing but noise, of any size
        bytes.resize(1 + rng() % 65536);
        for (char& c : bytes) c = static_cast<char>(rng());
        break;
    }
    write_segment(name, bytes);
    for (const bool json : {false, true}) {
      std::vector<std::string> args{"--segment", name};
      if (json) args.push_back("--json");
      const auto r = run_tool(CANARY_DUMP_PATH, args);
      ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << "round " << round << " exit " << r.exit_code << ": " << r.err;
      if (r.exit_code == 3) {
        EXPECT_EQ(testing::count_lines(r.err), 1) << r.err;
      }
      ++answered[r.exit_code];
    }
  }
  (void)Segment::destroy(name);
  std::printf("dump answered 0 (readable) %d times and 3 (refused) %d times\n", answered[0], answered[3]);
  EXPECT_GT(answered[3], 0);
}

}  // namespace
}  // namespace canary
