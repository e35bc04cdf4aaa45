// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>

#include "canary/config.hpp"
#include "canary/config_edit.hpp"
#include "canary/writer.hpp"
#include "scratch_segment.hpp"

namespace canary {
namespace {

using testing::ScratchSegment;
using testing::small_params;
using testing::unique_segment_name;

// Opens the segment's file directly, as a faulty or hostile process would.
struct RawFile {
  explicit RawFile(const std::string& name) : fd(shm_open(("/" + name).c_str(), O_RDWR, 0)) {}
  ~RawFile() {
    if (fd >= 0) close(fd);
  }
  void write_at(off_t offset, const void* data, std::size_t n) const {
    ASSERT_EQ(pwrite(fd, data, n, offset), static_cast<ssize_t>(n));
  }
  int fd;
};

TEST(Segment, CreateThenAttachSeesTheSameGeometryAndConfig) {
  ScratchSegment s("geo");
  auto attached = Segment::attach(s.name(), Access::read_only);
  ASSERT_TRUE(attached) << attached.status().message();
  EXPECT_EQ(attached->geometry().total_size, s.segment().geometry().total_size);
  EXPECT_EQ(attached->header().layout_version, kLayoutVersion);
  EXPECT_EQ(attached->header().creator_pid, static_cast<std::uint32_t>(getpid()));
  EXPECT_EQ(attached->geometry().slab_count, 2 * small_params().cpu_slots + 1);
  ConfigData c;
  ASSERT_TRUE(read_config(attached->config(), c, 16).ok);
  EXPECT_EQ(c.generation, 1u);
  EXPECT_EQ(c.versions[kFirstCandidate].share_bp, 500u);
  EXPECT_EQ(c.endpoint_count, 8u);
}

TEST(Segment, RegionsAreDisjointPageAlignedAndInsideTheFile) {
  ScratchSegment s("regions");
  const SegmentGeometry& g = s.segment().geometry();
  std::uint64_t end = sizeof(SegmentHeader);
  for (std::uint32_t i = 0; i < kRegionCount; ++i) {
    EXPECT_EQ(g.regions[i].offset % kPageSize, 0u);
    EXPECT_GE(g.regions[i].offset, end);
    end = g.regions[i].offset + g.regions[i].size;
  }
  EXPECT_LE(end, g.total_size);
  EXPECT_EQ(g.slab_stride % kPageSize, 0u);
  EXPECT_EQ(g.ring_stride % kPageSize, 0u);
}

TEST(Segment, IsCreatedWithMode0600ByDefault) {
  ScratchSegment s("mode");
  struct stat st {};
  ASSERT_EQ(fstat(s.segment().fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Segment, HonoursAnExplicitMode) {
  const std::string name = unique_segment_name("mode640");
  CreateOptions options{name, small_params(), 0640, "", false};
  auto created = Segment::create(options, *make_initial_config({}, 16));
  ASSERT_TRUE(created) << created.status().message();
  struct stat st {};
  ASSERT_EQ(fstat(created->fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_TRUE(Segment::destroy(name).ok());
}

// A process of another user: creates the segment `name` as a local user could (/dev/shm is
// writable by all), as `nobody`, and exits. Root only: skipped otherwise.
bool create_as_nobody(const std::string& name, mode_t mode) {
  const pid_t child = fork();
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    CreateOptions options{name, small_params(), mode, "", false, true};
    auto created = Segment::create(options, *make_initial_config({}, 16));
    _exit(created ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(Segment, AttachRefusesASegmentAnotherUserOwnsAndAWorkerRoutesLegacy) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to act as another user";
  const std::string name = unique_segment_name("owned");
  ASSERT_TRUE(create_as_nobody(name, 0600));
  auto refused = Segment::attach(name, Access::read_write);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), Errc::untrusted);
  const std::string& why = refused.status().message();
  EXPECT_NE(why.find("owned by nobody, uid 65534"), std::string::npos) << why;
  EXPECT_NE(why.find("mode 0600"), std::string::npos) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos) << "one line";
  // The same owner who set the share to 100%: a worker of this user routes everyone legacy.
  const pid_t worker = fork();
  if (worker == 0) {
    const bool attached = canary::attach(name);
    _exit(!attached && route("user-1", EndpointId{1}).version == Version::legacy ? 0 : 1);
  }
  int status = 0;
  waitpid(worker, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(Segment::destroy(name).ok());
}

TEST(Segment, AttachRefusesASegmentEveryUserMayWriteUnlessItsCreatorAllowedIt) {
  ScratchSegment s("open");
  ASSERT_EQ(fchmod(s.segment().fd(), 0666), 0);
  auto refused = Segment::attach(s.name(), Access::read_only);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), Errc::untrusted);
  EXPECT_NE(refused.status().message().find("mode 0666"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("every local user may write it"), std::string::npos);
  ASSERT_EQ(fchmod(s.segment().fd(), 0660), 0);
  EXPECT_TRUE(Segment::attach(s.name(), Access::read_only));

  // Created with the creator's consent, it is marked so and used.
  const std::string name = unique_segment_name("open-ok");
  CreateOptions refused_options{name, small_params(), 0666, "", false};
  auto not_created = Segment::create(refused_options, *make_initial_config({}, 16));
  ASSERT_FALSE(not_created);
  EXPECT_NE(not_created.status().message().find("--allow-world-writable"), std::string::npos);
  EXPECT_EQ(Segment::attach(name, Access::read_only).status().code(), Errc::missing) << "nothing was created";
  CreateOptions options{name, small_params(), 0666, "", false, true};
  auto created = Segment::create(options, *make_initial_config({}, 16));
  ASSERT_TRUE(created) << created.status().message();
  struct stat st {};
  ASSERT_EQ(fstat(created->fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  EXPECT_TRUE(Segment::attach(name, Access::read_write)) << "its creator allowed it";
  EXPECT_TRUE(Segment::destroy(name).ok());
}

TEST(Segment, RefusesToCreateOverAnExistingOneUnlessReplacing) {
  ScratchSegment s("exists");
  CreateOptions options{s.name(), small_params(), 0600, "", false};
  auto again = Segment::create(options, *make_initial_config({}, 16));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.status().code(), Errc::exists);
  options.replace_existing = true;
  auto replaced = Segment::create(options, *make_initial_config({}, 16));
  EXPECT_TRUE(replaced) << replaced.status().message();
}

TEST(Segment, AttachToAMissingSegmentSaysMissing) {
  auto attached = Segment::attach(unique_segment_name("missing"), Access::read_only);
  ASSERT_FALSE(attached);
  EXPECT_EQ(attached.status().code(), Errc::missing);
  EXPECT_NE(attached.status().message().find("does not exist"), std::string::npos);
}

TEST(Segment, AttachRefusesSomethingThatIsNotOurs) {
  const std::string name = unique_segment_name("foreign");
  int fd = shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  std::vector<char> junk(8192, 'x');
  ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  close(fd);
  auto attached = Segment::attach(name, Access::read_only);
  ASSERT_FALSE(attached);
  EXPECT_EQ(attached.status().code(), Errc::not_ours);
  EXPECT_NE(attached.status().message().find("not a canary-shm segment"), std::string::npos);
  (void)Segment::destroy(name);
}

TEST(Segment, AttachRefusesAnotherLayoutVersionByName) {
  ScratchSegment s("version");
  const std::uint32_t other = kLayoutVersion + 6;
  RawFile(s.name()).write_at(offsetof(SegmentHeader, layout_version), &other, sizeof other);
  auto attached = Segment::attach(s.name(), Access::read_only);
  ASSERT_FALSE(attached);
  EXPECT_EQ(attached.status().code(), Errc::other_version);
  EXPECT_NE(attached.status().message().find("layout version " + std::to_string(other)), std::string::npos);
}

TEST(Segment, AttachRefusesATruncatedSegment) {
  ScratchSegment s("trunc");
  RawFile raw(s.name());
  ASSERT_EQ(ftruncate(raw.fd, static_cast<off_t>(s.segment().geometry().total_size / 2)), 0);
  auto attached = Segment::attach(s.name(), Access::read_only);
  ASSERT_FALSE(attached);
  EXPECT_EQ(attached.status().code(), Errc::truncated);
  ASSERT_EQ(ftruncate(raw.fd, 100), 0);
  auto tiny = Segment::attach(s.name(), Access::read_only);
  ASSERT_FALSE(tiny);
  EXPECT_EQ(tiny.status().code(), Errc::truncated);
}

TEST(Segment, AttachSaysNotReadyWhileTheMagicIsZero) {
  ScratchSegment s("notready");
  const std::uint64_t zero = 0;
  RawFile(s.name()).write_at(0, &zero, sizeof zero);
  auto attached = Segment::attach(s.name(), Access::read_only);
  ASSERT_FALSE(attached);
  EXPECT_EQ(attached.status().code(), Errc::not_ready);
}

TEST(Segment, AttachRefusesParametersOutOfBoundsOrARegionTableThatDisagrees) {
  ScratchSegment s("corrupt");
  RawFile raw(s.name());
  const std::uint32_t huge = 1u << 30;
  raw.write_at(offsetof(SegmentHeader, cpu_slots), &huge, sizeof huge);
  auto attached = Segment::attach(s.name(), Access::read_only);
  ASSERT_FALSE(attached);
  EXPECT_EQ(attached.status().code(), Errc::corrupt);

  const std::uint32_t cpus = small_params().cpu_slots;
  raw.write_at(offsetof(SegmentHeader, cpu_slots), &cpus, sizeof cpus);
  ASSERT_TRUE(Segment::attach(s.name(), Access::read_only));
  const std::uint64_t moved = 12345;
  raw.write_at(offsetof(SegmentHeader, regions) + sizeof(RegionEntry) * 2, &moved, sizeof moved);
  auto moved_attach = Segment::attach(s.name(), Access::read_only);
  ASSERT_FALSE(moved_attach);
  EXPECT_EQ(moved_attach.status().code(), Errc::corrupt);
}

TEST(Segment, RejectsBadNamesAndParameters) {
  for (const char* bad : {"", "a/b", ".hidden", "sp ace"}) {
    auto attached = Segment::attach(bad, Access::read_only);
    ASSERT_FALSE(attached);
    EXPECT_EQ(attached.status().code(), Errc::invalid_argument) << bad;
  }
  SegmentParams p = small_params();
  p.ring_records = 1000;  // not a power of two
  CreateOptions options{unique_segment_name("params"), p, 0600, "", false};
  auto created = Segment::create(options, *make_initial_config({}, 16));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.status().code(), Errc::invalid_argument);
}

TEST(Segment, DestroyRemovesTheNameAndSaysSoWhenMissing) {
  const std::string name = unique_segment_name("destroy");
  CreateOptions options{name, small_params(), 0600, "", false};
  ASSERT_TRUE(Segment::create(options, *make_initial_config({}, 16)));
  EXPECT_TRUE(Segment::destroy(name).ok());
  EXPECT_EQ(Segment::destroy(name).code(), Errc::missing);
}

}  // namespace
}  // namespace canary
