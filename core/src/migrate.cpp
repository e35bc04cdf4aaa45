// SPDX-License-Identifier: Apache-2.0
#include "canary/migrate.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "canary/config.hpp"
#include "canary/config_edit.hpp"
#include "canary/detail/two_copy.hpp"
#include "canary/fixed_text.hpp"
#include "canary/geometry.hpp"
#include "canary/migrate/layout6.hpp"
#include "canary/migrate/layout7.hpp"
#include "canary/migrate/layout8.hpp"
#include "canary/ofd_lock.hpp"
#include "canary/segment.hpp"
#include "canary/versions.hpp"

namespace canary {

namespace {

std::string quoted(const std::string& name) { return "'" + name + "'"; }

// The old segment's file, mapped read-only, and its descriptor (for the locks).
struct OldFile {
  int fd = -1;
  void* map = MAP_FAILED;
  std::size_t size = 0;
  ~OldFile() {
    if (map != MAP_FAILED) munmap(map, size);
    if (fd >= 0) close(fd);
  }
  const SegmentHeader& header() const { return *static_cast<const SegmentHeader*>(map); }
};

// Bounds of the old config that the conversion relies on; the rest is checked on the result.
bool plausible(const layout6::ConfigData& c, std::uint32_t capacity) {
  return c.share_bp <= kMaxShareBp && c.state < kDeploymentStateCount && c.hash_mode <= 1 && c.enabled <= 1 &&
         c.endpoint_count >= 1 && c.endpoint_count <= std::min(kMaxEndpoints, capacity) &&
         c.override_count <= kMaxOverrides && c.ramp_count <= kMaxRampSteps && c.awaiting_approval <= 1 &&
         c.srm_detected <= 1 && c.require_approval <= 1;
}

std::string group_name(gid_t gid) {
  const group* g = getgrgid(gid);
  return g != nullptr ? g->gr_name : "";
}

}  // namespace

Expected<ConfigData> config_from_layout6(const layout6::ConfigData& old, std::uint32_t endpoint_capacity) {
  if (!plausible(old, endpoint_capacity)) return Status{Errc::corrupt, "the layout-6 config has a field out of range"};
  auto c = std::make_unique<ConfigData>();
  c->salt = old.salt;
  c->enabled = old.enabled;
  c->hash_mode = old.hash_mode;
  c->rollout_started_unix_ns = old.rollout_started_unix_ns;
  c->changed_unix_ns = old.changed_unix_ns;
  set_text(c->changed_by, "canary-ctl migrate (from layout 6)");
  c->fail_safe_after_ms = old.fail_safe_after_ms;
  c->ramp_count = old.ramp_count;
  c->require_approval = old.require_approval;
  std::memcpy(c->ramp_bp, old.ramp_bp, sizeof(c->ramp_bp));
  c->version_count = 2;
  for (std::uint32_t v : {kBaseline, kFirstCandidate}) {
    VersionEntry& e = c->versions[v];
    set_text(e.name, to_string(static_cast<Version>(v)));
    e.slot = kSlotActive;
    e.state = static_cast<std::uint8_t>(DeploymentState::running);
    e.started_unix_ns = old.rollout_started_unix_ns;
    e.step_started_unix_ns = old.step_started_unix_ns;
  }
  // The deployment's state was the canary's.
  VersionEntry& canary = c->versions[kFirstCandidate];
  canary.state = old.state;
  canary.awaiting_approval = old.awaiting_approval;
  canary.srm_detected = old.srm_detected;
  canary.ramp_step = old.ramp_step;
  set_text(canary.state_reason, text_of(old.state_reason));
  set_text(c->versions[kBaseline].state_reason, "baseline");
  // With one candidate it owns [0, share): the rule `bucket < share` of layout 6, user for user.
  if (Status s = allot_share(*c, kFirstCandidate, old.share_bp); !s.ok()) return s;
  c->endpoint_count = old.endpoint_count;
  for (std::uint32_t id = 0; id < old.endpoint_count; ++id) {
    const layout6::EndpointEntry& from = old.endpoints[id];
    EndpointEntry& to = c->endpoints[id];
    std::memcpy(to.path, from.path, sizeof(to.path));
    to.path_len = from.path_len;
    to.registered = from.registered;
    set_endpoint_on(canary, id, id != kOtherEndpoint && from.canary != 0);
  }
  c->override_count = old.override_count;
  std::memcpy(c->overrides, old.overrides, sizeof(c->overrides));
  if (const char* why = config_problem(*c, endpoint_capacity, /*check_checksum=*/false))
    return Status{Errc::corrupt, std::string("the layout-6 config does not convert: ") + why};
  return *c;
}

Expected<ConfigData> config_from_layout7(const layout7::ConfigData& old, std::uint32_t endpoint_capacity) {
  auto c = std::make_unique<ConfigData>();  // the experiment table starts empty
  std::memcpy(static_cast<void*>(c.get()), &old, sizeof old);
  set_text(c->changed_by, "canary-ctl migrate (from layout 7)");
  if (const char* why = config_problem(*c, endpoint_capacity, /*check_checksum=*/false))
    return Status{Errc::corrupt, std::string("the layout-7 config does not convert: ") + why};
  return *c;
}

Expected<ConfigData> config_from_layout8(const layout8::ConfigData& old, std::uint32_t endpoint_capacity) {
  auto c = std::make_unique<ConfigData>();
  std::memcpy(static_cast<void*>(c.get()), &old, sizeof old);
  set_text(c->changed_by, "canary-ctl migrate (from layout 8)");
  for (std::uint32_t x = 0; x < kMaxExperiments; ++x) {
    // The reason loses its last 8 bytes to drops_at_start; the new segment's drops start at 0.
    set_text(c->experiments[x].reason, std::string_view(old.experiments[x].reason,
                                                        strnlen(old.experiments[x].reason, sizeof old.experiments[x].reason)));
    c->experiments[x].drops_at_start = 0;
  }
  if (const char* why = config_problem(*c, endpoint_capacity, /*check_checksum=*/false))
    return Status{Errc::corrupt, std::string("the layout-8 config does not convert: ") + why};
  return *c;
}

namespace {

// The old config, read under the old segment's config lock, as a current one.
template <class OldConfig, class Convert>
Expected<ConfigData> read_and_convert(const std::byte* config_region, std::uint32_t capacity, Convert&& convert,
                                      const std::string& name) {
  const auto& block = *reinterpret_cast<const TwoCopyBlock<OldConfig>*>(config_region);
  auto old = std::make_unique<OldConfig>();
  if (detail::read_two_copy(block, *old, kConfigReadAttempts, [&](const OldConfig& c) { return convert(c, capacity).ok(); }) == 0)
    return Status{Errc::corrupt, "segment " + quoted(name) + "'s config has no valid copy"};
  return convert(*old, capacity);
}

}  // namespace

Expected<std::uint32_t> migrate_segment(const MigrateOptions& options) {
  const std::string& name = options.name;
  OldFile old;
  old.fd = shm_open(("/" + name).c_str(), O_RDWR | O_CLOEXEC, 0);
  if (old.fd < 0)
    return Status{errno == ENOENT ? Errc::missing : Errc::system, "cannot open segment " + quoted(name) + ": " + std::strerror(errno)};
  if (Status s = check_segment_owner(name, old.fd); !s.ok()) return s;
  struct stat st {};
  if (fstat(old.fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(SegmentHeader)))
    return Status{Errc::corrupt, "segment " + quoted(name) + " is smaller than a header"};
  old.size = static_cast<std::size_t>(st.st_size);
  old.map = mmap(nullptr, old.size, PROT_READ, MAP_SHARED, old.fd, 0);
  if (old.map == MAP_FAILED) return Status{Errc::system, "cannot map segment " + quoted(name) + ": " + std::strerror(errno)};

  const SegmentHeader& h = old.header();
  // acquire: pairs with the creator's release store of the magic, so the rest is complete.
  if (h.magic.load(std::memory_order_acquire) != kSegmentMagic)
    return Status{Errc::corrupt, "segment " + quoted(name) + " is not a canary-shm segment (or not ready)"};
  if (h.layout_version == kLayoutVersion)
    return Status{Errc::refused, "segment " + quoted(name) + " is already layout " + std::to_string(kLayoutVersion) + ": nothing to migrate"};
  const std::uint32_t from = h.layout_version;
  if (from != layout6::kLayoutVersion && from != layout7::kLayoutVersion && from != layout8::kLayoutVersion)
    return Status{Errc::refused, "segment " + quoted(name) + " is layout " + std::to_string(from) +
                                     "; migrate reads layouts 6, 7 and 8 (re-create older ones with canary-ctl init --force)"};
  const std::size_t old_block_size = from == layout6::kLayoutVersion   ? sizeof(layout6::ConfigBlock)
                                     : from == layout7::kLayoutVersion ? sizeof(layout7::ConfigBlock)
                                                                       : sizeof(layout8::ConfigBlock);
  SegmentParams params{h.cpu_slots, h.endpoint_capacity, h.ring_count, h.ring_records};
  if (std::string why = check_params(params); !why.empty())
    return Status{Errc::corrupt, "segment " + quoted(name) + ": " + why};
  const RegionEntry config_region = h.regions[static_cast<std::uint32_t>(RegionId::config)];
  if (h.total_size != old.size || config_region.offset < sizeof(SegmentHeader) || config_region.offset % kPageSize != 0 ||
      config_region.size < old_block_size || config_region.offset + config_region.size > old.size)
    return Status{Errc::corrupt, "segment " + quoted(name) + " has a header that does not match its size"};
  if (byte_is_locked(old.fd, kAggregatorLockByte) && !options.even_if_live)
    return Status{Errc::refused, "segment " + quoted(name) + " is held by a live aggregator; stop it first (or pass --even-if-live)"};

  // Old writers wait while the config is read and the new segment takes the name.
  if (Status s = lock_byte(old.fd, kConfigLockByte, std::chrono::seconds(5)); !s.ok())
    return Status{s.code(), "cannot lock the old config: " + s.message()};
  struct Unlock {
    int fd;
    ~Unlock() { unlock_byte(fd, kConfigLockByte); }
  } unlock{old.fd};
  const std::byte* old_config = static_cast<const std::byte*>(old.map) + config_region.offset;
  auto converted =
      from == layout6::kLayoutVersion   ? read_and_convert<layout6::ConfigData>(old_config, params.endpoint_capacity, config_from_layout6, name)
      : from == layout7::kLayoutVersion ? read_and_convert<layout7::ConfigData>(old_config, params.endpoint_capacity, config_from_layout7, name)
                                        : read_and_convert<layout8::ConfigData>(old_config, params.endpoint_capacity, config_from_layout8, name);
  if (!converted) return converted.status();

  CreateOptions create;
  create.name = name;
  create.params = params;
  create.mode = st.st_mode & 0777;
  create.group = st.st_gid != getegid() ? group_name(st.st_gid) : "";
  create.replace_existing = true;
  auto created = Segment::create(create, *converted);
  if (!created) return created.status();
  return from;
}

}  // namespace canary
