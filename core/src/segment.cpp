// SPDX-License-Identifier: Apache-2.0
#include "canary/segment.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <vector>

#include "canary/clock.hpp"
#include "canary/config.hpp"

namespace bip = boost::interprocess;

namespace canary {

struct Segment::Impl {
  std::string name;
  Access access = Access::read_only;
  bip::shared_memory_object shm;
  bip::mapped_region region;
  SegmentGeometry geometry;
};

Segment::Segment(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Segment::Segment(Segment&&) noexcept = default;
Segment& Segment::operator=(Segment&&) noexcept = default;
Segment::~Segment() = default;

const std::string& Segment::name() const { return impl_->name; }
Access Segment::access() const { return impl_->access; }
int Segment::fd() const { return impl_->shm.get_mapping_handle().handle; }
const SegmentGeometry& Segment::geometry() const { return impl_->geometry; }
std::byte* Segment::base() const { return static_cast<std::byte*>(impl_->region.get_address()); }

std::string default_segment_name() {
  const char* env = std::getenv("CANARY_SEGMENT");
  return env && *env ? std::string(env) : std::string(kDefaultSegmentName);
}

std::string check_segment_name(std::string_view name) {
  if (name.empty() || name.size() > 200) return "segment name must be 1 to 200 characters";
  if (name.front() == '.') return "segment name must not start with '.'";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return "segment name may hold only letters, digits, '.', '_' and '-'";
  }
  return {};
}

namespace {

Status os_error(std::string what, int err) {
  return {Errc::system, std::move(what) + ": " + std::strerror(err)};
}

std::string quoted(std::string_view name) { return "segment '" + std::string(name) + "'"; }

// Checks what the header says against the file it came from and against this build. Everything
// the rest of the process will trust about positions comes out of here.
Status validate_header(std::string_view name, const SegmentHeader& h, std::uint64_t file_size,
                       SegmentGeometry& out) {
  const std::uint64_t magic = h.magic.load(std::memory_order_acquire);  // pairs with create's release
  if (magic == 0) return {Errc::not_ready, quoted(name) + " is not ready: its creator has not finished"};
  if (magic != kSegmentMagic) return {Errc::not_ours, quoted(name) + " is not a canary-shm segment"};
  if (h.layout_version != kLayoutVersion)
    return {Errc::other_version, quoted(name) + " has layout version " + std::to_string(h.layout_version) +
                                     "; this build reads version " + std::to_string(kLayoutVersion)};
  if (h.total_size > file_size)
    return {Errc::truncated, quoted(name) + " is truncated: its header says " + std::to_string(h.total_size) +
                                 " bytes, the file has " + std::to_string(file_size)};
  if (h.total_size != file_size)
    return {Errc::corrupt, quoted(name) + " is corrupt: its header says " + std::to_string(h.total_size) +
                               " bytes, the file has " + std::to_string(file_size)};
  if (h.header_size != sizeof(SegmentHeader) || h.histogram_buckets != kHistogramBuckets ||
      h.ring_record_size != sizeof(RingRecord) || h.region_count != kRegionCount)
    return {Errc::corrupt, quoted(name) + " is corrupt: header constants do not match layout version " +
                               std::to_string(kLayoutVersion)};
  const SegmentParams params{h.cpu_slots, h.endpoint_capacity, h.ring_count, h.ring_records};
  if (std::string why = check_params(params); !why.empty())
    return {Errc::corrupt, quoted(name) + " is corrupt: " + why};
  SegmentGeometry g = compute_geometry(params);
  if (g.total_size != h.total_size)
    return {Errc::corrupt, quoted(name) + " is corrupt: its size does not match its parameters"};
  for (std::uint32_t i = 0; i < kRegionCount; ++i) {
    if (h.regions[i].offset != g.regions[i].offset || h.regions[i].size != g.regions[i].size)
      return {Errc::corrupt, quoted(name) + " is corrupt: region " + std::to_string(i) +
                                 " is not where its parameters put it"};
  }
  const auto& events = *reinterpret_cast<const EventLogHeader*>(reinterpret_cast<const std::byte*>(&h) +
                                                                g.region(RegionId::events).offset);
  if (events.capacity != kEventCapacity || events.entry_size != sizeof(EventEntry))
    return {Errc::corrupt, quoted(name) + " is corrupt: its event log header does not match layout version " +
                               std::to_string(kLayoutVersion)};
  out = g;
  return Status::Ok();
}

std::string user_name(uid_t uid) {
  std::vector<char> buffer(16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr)
    return std::string(found->pw_name) + ", uid " + std::to_string(uid);
  return "uid " + std::to_string(uid);
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// /dev/shm is writable by every local user: whoever creates a segment's name first owns the file,
// and whoever may write it controls routing. So a segment is used only when its owner is this
// process's user or root, and no other user may write it (its group may: the workers' group) unless
// its creator said so (kSegmentFlagWorldWritable, checked once the header is read).
Status check_owner(std::string_view name, int fd, mode_t& mode) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return os_error("cannot read the owner of " + quoted(name), errno);
  mode = st.st_mode;
  const uid_t me = geteuid();
  if (st.st_uid != me && st.st_uid != 0)
    return {Errc::untrusted, quoted(name) + " is owned by " + user_name(st.st_uid) + " (mode " + octal_mode(st.st_mode) +
                                 "), not by this user (" + user_name(me) + ") or root: refused, its owner could route "
                                 "every user; remove it and create it again as the service's user or root"};
  return Status::Ok();
}

Status check_world_writable(std::string_view name, mode_t mode, std::uint32_t creator_flags) {
  if (!(mode & S_IWOTH) || (creator_flags & kSegmentFlagWorldWritable)) return Status::Ok();
  return {Errc::untrusted, quoted(name) + " has mode " + octal_mode(mode) +
                               ": every local user may write it and so route every user; refused (chmod o-w /dev/shm/" +
                               std::string(name) + ", or canary-ctl init --force --mode 0660 --group GROUP)"};
}

Status set_group(int fd, const std::string& group) {
  std::size_t size = 16384;
  std::vector<char> buffer(size);
  struct group entry {};
  struct group* found = nullptr;
  int err = getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (err != 0) return os_error("cannot look up group '" + group + "'", err);
  if (!found) return {Errc::invalid_argument, "unknown group '" + group + "'"};
  if (fchown(fd, static_cast<uid_t>(-1), found->gr_gid) != 0)
    return os_error("cannot give the segment to group '" + group + "'", errno);
  return Status::Ok();
}

void write_header(SegmentHeader& h, const SegmentGeometry& g) {
  h.layout_version = kLayoutVersion;
  h.header_size = sizeof(SegmentHeader);
  h.total_size = g.total_size;
  h.created_unix_ns = unix_now_ns();
  h.creator_pid = static_cast<std::uint32_t>(getpid());
  h.cpu_slots = g.params.cpu_slots;
  h.endpoint_capacity = g.params.endpoint_capacity;
  h.ring_count = g.params.ring_count;
  h.ring_records = g.params.ring_records;
  h.histogram_buckets = kHistogramBuckets;
  h.ring_record_size = sizeof(RingRecord);
  h.region_count = kRegionCount;
  for (std::uint32_t i = 0; i < kRegionCount; ++i) h.regions[i] = g.regions[i];
}

}  // namespace

namespace {

// The segment is a sparse file in /dev/shm: creating one larger than the free space succeeds, and
// the first worker to touch a page past it dies of SIGBUS. So a segment that does not fit is
// refused here, in one line, before anything changes (a segment it replaces counts as free).
Status check_room(const std::string& name, std::uint64_t size, bool replacing) {
  struct statvfs fs {};
  if (statvfs("/dev/shm", &fs) != 0) return Status::Ok();  // no /dev/shm to ask: shm_open decides
  std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  struct stat existing {};
  if (replacing && stat(("/dev/shm/" + name).c_str(), &existing) == 0)
    free_bytes += static_cast<std::uint64_t>(existing.st_blocks) * 512;
  if (size <= free_bytes) return Status::Ok();
  constexpr std::uint64_t kMiB = 1 << 20;
  return Status{Errc::invalid_argument,
                "cannot create " + quoted(name) + ": it needs " + std::to_string((size + kMiB - 1) / kMiB) + " MiB and /dev/shm has " +
                    std::to_string(free_bytes / kMiB) +
                    " MiB free (a container's default is 64 MB: raise --shm-size, or use fewer --cpus, --rings or --endpoints; "
                    "canary-ctl init --dry-run shows the size)"};
}

}  // namespace

Expected<Segment> Segment::create(const CreateOptions& options, const ConfigData& initial) {
  if (std::string why = check_segment_name(options.name); !why.empty()) return Status{Errc::invalid_argument, why};
  SegmentParams params = options.params;
  if (params.cpu_slots == 0) params.cpu_slots = possible_cpu_count();
  if (std::string why = check_params(params); !why.empty()) return Status{Errc::invalid_argument, why};
  if ((options.mode & ~mode_t{0777}) != 0 || (options.mode & 0600) != 0600)
    return Status{Errc::invalid_argument, "mode must be octal, at most 0777, and let the owner read and write"};
  if ((options.mode & S_IWOTH) && !options.allow_world_writable)
    return Status{Errc::invalid_argument, "mode " + octal_mode(options.mode) +
                                              " lets every local user write the segment, and so route every user; give the "
                                              "workers a group (--group GROUP --mode 0660), or pass --allow-world-writable"};
  if (const char* why = config_problem(initial, params.endpoint_capacity, /*check_checksum=*/false))
    return Status{Errc::invalid_argument, std::string("initial config: ") + why};

  const SegmentGeometry geometry = compute_geometry(params);
  if (Status s = check_room(options.name, geometry.total_size, options.replace_existing); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->name = options.name;
  impl->access = Access::read_write;
  impl->geometry = geometry;

  if (options.replace_existing) bip::shared_memory_object::remove(options.name.c_str());
  try {
    impl->shm = bip::shared_memory_object(bip::create_only, options.name.c_str(), bip::read_write,
                                          bip::permissions(static_cast<unsigned>(options.mode)));
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::already_exists_error)
      return Status{Errc::exists, quoted(options.name) + " already exists (init --force replaces it)"};
    return os_error("cannot create " + quoted(options.name), e.get_native_error());
  }

  // From here on a failure must not leave a half-made segment under the name.
  auto fail = [&](Status s) -> Expected<Segment> {
    bip::shared_memory_object::remove(options.name.c_str());
    return s;
  };
  try {
    if (!options.group.empty()) {
      if (Status s = set_group(impl->shm.get_mapping_handle().handle, options.group); !s.ok()) return fail(s);
    }
    impl->shm.truncate(static_cast<bip::offset_t>(geometry.total_size));
    impl->region = bip::mapped_region(impl->shm, bip::read_write);
  } catch (const bip::interprocess_exception& e) {
    return fail(os_error("cannot size or map " + quoted(options.name), e.get_native_error()));
  }

  // The file is zero-filled: every ring is free, every counter zero, the aggregator area empty.
  Segment segment(std::move(impl));
  auto& header = *reinterpret_cast<SegmentHeader*>(segment.base());
  write_header(header, geometry);
  header.flags = options.allow_world_writable ? kSegmentFlagWorldWritable : 0;
  ConfigData first = initial;
  first.generation = 0;
  publish_config(segment.config(), first);
  auto& events = *reinterpret_cast<EventLogHeader*>(segment.region(RegionId::events));
  events.capacity = kEventCapacity;
  events.entry_size = sizeof(EventEntry);
  // Everything above happens-before any acquire load that sees the magic.
  header.magic.store(kSegmentMagic, std::memory_order_release);
  return segment;
}

Expected<Segment> Segment::attach(std::string_view name, Access access) {
  if (std::string why = check_segment_name(name); !why.empty()) return Status{Errc::invalid_argument, why};
  const std::string shm_name(name);
  auto impl = std::make_unique<Impl>();
  impl->name = shm_name;
  impl->access = access;
  const auto mode = access == Access::read_write ? bip::read_write : bip::read_only;
  try {
    impl->shm = bip::shared_memory_object(bip::open_only, shm_name.c_str(), mode);
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error)
      return Status{Errc::missing, quoted(name) + " does not exist (create it with canary-ctl init)"};
    return os_error("cannot open " + quoted(name), e.get_native_error());
  }

  mode_t file_mode = 0;
  if (Status s = check_owner(name, impl->shm.get_mapping_handle().handle, file_mode); !s.ok()) return s;
  // Size first (fstat): mapping past the end of the file would turn a truncated segment into a
  // SIGBUS on first touch instead of an error.
  bip::offset_t size = 0;
  if (!impl->shm.get_size(size)) return os_error("cannot read the size of " + quoted(name), errno);
  if (size == 0) return Status{Errc::not_ready, quoted(name) + " is empty: its creator has not sized it yet"};
  if (static_cast<std::uint64_t>(size) < sizeof(SegmentHeader))
    return Status{Errc::truncated, quoted(name) + " is truncated: " + std::to_string(size) +
                                       " bytes, smaller than a header"};
  try {
    impl->region = bip::mapped_region(impl->shm, mode, 0, static_cast<std::size_t>(size));
  } catch (const bip::interprocess_exception& e) {
    return os_error("cannot map " + quoted(name), e.get_native_error());
  }
  const auto& header = *static_cast<const SegmentHeader*>(impl->region.get_address());
  if (Status s = validate_header(name, header, static_cast<std::uint64_t>(size), impl->geometry); !s.ok())
    return s;
  if (Status s = check_world_writable(name, file_mode, header.flags); !s.ok()) return s;
  return Segment(std::move(impl));
}

Status check_segment_owner(std::string_view name, int fd) {
  mode_t mode = 0;
  if (Status s = check_owner(name, fd, mode); !s.ok()) return s;
  return check_world_writable(name, mode, 0);
}

Status Segment::destroy(std::string_view name) {
  if (std::string why = check_segment_name(name); !why.empty()) return {Errc::invalid_argument, why};
  const std::string shm_name(name);
  if (!bip::shared_memory_object::remove(shm_name.c_str())) {
    if (errno == ENOENT) return {Errc::missing, quoted(name) + " does not exist"};
    return os_error("cannot remove " + quoted(name), errno);
  }
  return Status::Ok();
}

Status Segment::check_still_named() const {
  const int fd = shm_open(("/" + name()).c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) return {Errc::missing, quoted(name()) + " was removed (destroy, or init --force in progress)"};
    return os_error("cannot open " + quoted(name()), errno);
  }
  struct stat named {}, mapped {};
  const bool same = fstat(fd, &named) == 0 && fstat(this->fd(), &mapped) == 0 && named.st_ino == mapped.st_ino &&
                    named.st_dev == mapped.st_dev;
  close(fd);
  if (!same) return {Errc::refused, quoted(name()) + " was replaced: the name now refers to another segment"};
  return Status::Ok();
}

}  // namespace canary
