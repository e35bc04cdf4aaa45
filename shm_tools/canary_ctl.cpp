// canary-ctl: create, inspect and change a canary-shm segment. Every change goes through
// update_config(), so it is validated first, serialized with every other writer, and seen by each
// worker's next request; a refused change leaves the config exactly as it was.
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "canary/config.hpp"
#include "canary/config_edit.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/ring.hpp"
#include "canary/router.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "ctl_status.hpp"
#include "tool_common.hpp"

namespace canary::tools {
namespace {

constexpr std::string_view kTool = "canary-ctl";

struct InitArgs {
  bool force = false;
  std::string endpoints = "64", cpus, rings = "64", ring_records = "16384", mode = "0600", group;
  std::string percentage = "5", hash = "xxh3", salt = "0";
  bool disabled = false;
  bool no_seed_endpoints = false;
};

Expected<mode_t> parse_mode(std::string_view text) {
  std::uint32_t mode = 0;
  bool ok = !text.empty() && text.size() <= 4;
  for (char c : text) {
    ok = ok && c >= '0' && c <= '7';
    mode = mode * 8 + static_cast<std::uint32_t>(c - '0');
  }
  if (!ok || mode > 0777)
    return Status{Errc::invalid_argument, "mode '" + std::string(text.substr(0, 40)) + "' is not an octal mode such as 0600"};
  return static_cast<mode_t>(mode);
}

int run_init(const std::string& segment, const InitArgs& a) {
  CreateOptions options;
  options.name = segment;
  options.replace_existing = a.force;
  options.group = a.group;
  InitialConfig init;
  init.enabled = !a.disabled;
  if (a.no_seed_endpoints) init.endpoints.clear();

  auto capacity = parse_bounded(a.endpoints, "--endpoints", kMinEndpointCapacity, kMaxEndpoints);
  if (!capacity) return report(kTool, capacity.status());
  options.params.endpoint_capacity = static_cast<std::uint32_t>(*capacity);
  if (!a.cpus.empty()) {
    auto cpus = parse_bounded(a.cpus, "--cpus", 1, kMaxCpuSlots);
    if (!cpus) return report(kTool, cpus.status());
    options.params.cpu_slots = static_cast<std::uint32_t>(*cpus);
  }
  auto rings = parse_bounded(a.rings, "--rings", 1, kMaxRingCount);
  if (!rings) return report(kTool, rings.status());
  options.params.ring_count = static_cast<std::uint32_t>(*rings);
  auto records = parse_bounded(a.ring_records, "--ring-records", kMinRingRecords, kMaxRingRecords);
  if (!records) return report(kTool, records.status());
  options.params.ring_records = static_cast<std::uint32_t>(*records);
  auto mode = parse_mode(a.mode);
  if (!mode) return report(kTool, mode.status());
  options.mode = *mode;
  auto share = parse_share_percent(a.percentage);
  if (!share) return report(kTool, share.status());
  init.share_bp = *share;
  auto hash = parse_hash_mode(a.hash);
  if (!hash) return report(kTool, {Errc::invalid_argument, "hash must be xxh3 or md5"});
  init.hash = *hash;
  auto salt = parse_u64(a.salt, "salt");
  if (!salt) return report(kTool, salt.status());
  init.salt = *salt;

  auto config = make_initial_config(init, options.params.endpoint_capacity);
  if (!config) return report(kTool, config.status());
  auto created = Segment::create(options, *config);
  if (!created) return report(kTool, created.status());
  const auto& h = created->header();
  std::cout << "created segment '" << segment << "': " << h.total_size << " bytes, " << h.cpu_slots << " CPU slots, "
            << h.endpoint_capacity << " endpoint slots, " << h.ring_count << " rings of " << h.ring_records
            << " records\n";
  return kExitOk;
}

// An edit sees the segment's parameters too (add-endpoint needs its endpoint capacity).
using Edit = std::function<Status(ConfigData&, const SegmentParams&)>;

int change(const std::string& segment, const std::string& action, const Edit& edit) {
  auto attached = Segment::attach(segment, Access::read_write);
  if (!attached) return report(kTool, attached.status());
  const SegmentParams params = attached->geometry().params;
  const Status s = update_config(*attached, who("canary-ctl " + action), [&](ConfigData& c) { return edit(c, params); });
  if (!s.ok()) return report(kTool, s);
  std::cout << action << ": done (generation "
            << attached->config().published.load(std::memory_order_acquire) << ")\n";
  return kExitOk;
}

int run_route(const std::string& segment, const std::string& user, const std::string* path) {
  if (std::string why = user_id_problem(user); !why.empty()) return report(kTool, {Errc::invalid_argument, why});
  if (path && path->empty()) return report(kTool, {Errc::invalid_argument, "path is empty"});
  if (path && path->size() > kMaxPathBytes)
    return report(kTool, {Errc::invalid_argument, "path is " + std::to_string(path->size()) + " bytes; the limit is " +
                                                      std::to_string(kMaxPathBytes)});
  auto attached = Segment::attach(segment, Access::read_only);
  if (!attached) return report(kTool, attached.status());
  auto router = std::make_unique<Router>();
  router->bind(&attached->config(), attached->geometry().params.endpoint_capacity);
  if (router->generation() == 0)
    return report(kTool, {Errc::corrupt, "the segment's config is corrupt: neither copy is valid"});
  const bool canary = path ? router->route(user, std::string_view(*path)).version == Version::canary
                           : router->is_canary_user(user);
  std::cout << (canary ? "canary" : "legacy") << '\n';
  return kExitOk;
}

int run_reap(const std::string& segment) {
  auto attached = Segment::attach(segment, Access::read_write);
  if (!attached) return report(kTool, attached.status());
  auto consumer = RingConsumer::open(*attached);
  if (!consumer) return report(kTool, consumer.status());
  const ReclaimStats reaped = consumer->reap_dead();
  std::cout << "reap: freed " << reaped.rings << " rings of dead writers; " << reaped.discarded
            << " undrained records counted as dropped\n";
  return kExitOk;
}

}  // namespace
}  // namespace canary::tools

int main(int argc, char** argv) {
  using namespace canary;
  using namespace canary::tools;

  CLI::App app{"Create, inspect and change a canary-shm segment.", "canary-ctl"};
  std::string segment;
  add_segment_option(app, segment);
  app.require_subcommand(1);
  app.fallthrough();

  InitArgs init;
  auto* init_cmd = app.add_subcommand("init", "create the segment (seven seed endpoints, 5%, enabled, xxh3, salt 0)");
  init_cmd->add_flag("--force", init.force, "replace an existing segment");
  init_cmd->add_option("--endpoints", init.endpoints, "endpoint ids the slabs have room for, 'other' included (2..128, default 64)");
  init_cmd->add_option("--cpus", init.cpus, "CPU slots (default: every possible CPU)");
  init_cmd->add_option("--rings", init.rings, "writer rings (default 64)");
  init_cmd->add_option("--ring-records", init.ring_records, "records per ring, a power of two (default 16384)");
  init_cmd->add_option("--mode", init.mode, "octal permissions of the segment (default 0600)");
  init_cmd->add_option("--group", init.group, "group to give the segment to");
  init_cmd->add_option("--percentage", init.percentage, "initial canary percentage (default 5)");
  init_cmd->add_option("--hash", init.hash, "xxh3 or md5 (default xxh3)");
  init_cmd->add_option("--salt", init.salt, "xxh3 seed (default 0)");
  init_cmd->add_flag("--disabled", init.disabled, "start with the canary disabled");
  init_cmd->add_flag("--no-seed-endpoints", init.no_seed_endpoints, "register no endpoints");

  auto* destroy_cmd = app.add_subcommand("destroy", "remove the segment (attached processes keep their mapping)");
  auto* status_cmd = app.add_subcommand("status", "print the config, state and endpoints as key: value lines");

  std::string percentage;
  auto* share_cmd = app.add_subcommand("set-percentage", "set the canary share, 0 to 100 with at most two decimals");
  share_cmd->add_option("percentage", percentage, "e.g. 10 or 12.5")->required();
  auto* enable_cmd = app.add_subcommand("enable", "turn canary routing on");
  auto* disable_cmd = app.add_subcommand("disable", "route everyone legacy");

  std::string path;
  auto* add_cmd = app.add_subcommand("add-endpoint", "register a template (or re-enable it) for the canary");
  add_cmd->add_option("path", path, "template such as /api/v2/conversations/{session_id}")->required();
  auto* remove_cmd = app.add_subcommand("remove-endpoint", "stop sending this endpoint to the canary (its id and metrics stay)");
  remove_cmd->add_option("path", path, "a registered template")->required();

  std::string hash;
  auto* hash_cmd = app.add_subcommand("set-hash", "choose the bucket hash: xxh3 or md5 (whole percents only)");
  hash_cmd->add_option("mode", hash, "xxh3 or md5")->required();
  std::string salt;
  auto* salt_cmd = app.add_subcommand("set-salt", "reshuffle users for a new rollout (xxh3 seed)");
  salt_cmd->add_option("salt", salt, "0 to 18446744073709551615")->required();

  std::string user, version;
  auto* pin_cmd = app.add_subcommand("pin", "pin a user to a version (at most 64 pins)");
  pin_cmd->add_option("--user", user, "user id, 1 to 1024 bytes")->required();
  pin_cmd->add_option("--version", version, "canary or legacy")->required();
  auto* unpin_cmd = app.add_subcommand("unpin", "remove a user's pin");
  unpin_cmd->add_option("--user", user, "user id")->required();

  auto* route_cmd = app.add_subcommand("route", "print legacy or canary for a user (and a request path)");
  route_cmd->add_option("--user", user, "user id")->required();
  auto* path_opt = route_cmd->add_option("--path", path, "request path; without it: is_canary_user");

  auto* reap_cmd = app.add_subcommand("reap", "free dead writers' rings when no aggregator runs (undrained records count as dropped)");

  if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;

  if (*init_cmd) return run_init(segment, init);
  if (*destroy_cmd) {
    if (Status s = Segment::destroy(segment); !s.ok()) return report(kTool, s);
    std::cout << "destroyed segment '" << segment << "'\n";
    return kExitOk;
  }
  if (*status_cmd) return print_status(segment, std::cout);
  if (*reap_cmd) return run_reap(segment);
  if (*route_cmd) return run_route(segment, user, path_opt->count() ? &path : nullptr);

  if (*share_cmd) {
    auto bp = parse_share_percent(percentage);
    if (!bp) return report(kTool, bp.status());
    return change(segment, "set-percentage", [&](ConfigData& c, const SegmentParams&) { return set_share(c, *bp); });
  }
  if (*enable_cmd) return change(segment, "enable", [](ConfigData& c, const SegmentParams&) { return set_enabled(c, true); });
  if (*disable_cmd) return change(segment, "disable", [](ConfigData& c, const SegmentParams&) { return set_enabled(c, false); });
  if (*add_cmd) {
    return change(segment, "add-endpoint",
                  [&](ConfigData& c, const SegmentParams& p) { return add_endpoint(c, path, p.endpoint_capacity); });
  }
  if (*remove_cmd) return change(segment, "remove-endpoint", [&](ConfigData& c, const SegmentParams&) { return remove_endpoint(c, path); });
  if (*hash_cmd) {
    auto mode = parse_hash_mode(hash);
    if (!mode) return report(kTool, {Errc::invalid_argument, "hash '" + hash.substr(0, 40) + "' must be xxh3 or md5"});
    return change(segment, "set-hash", [&](ConfigData& c, const SegmentParams&) { return set_hash_mode(c, *mode); });
  }
  if (*salt_cmd) {
    auto value = parse_u64(salt, "salt");
    if (!value) return report(kTool, value.status());
    return change(segment, "set-salt", [&](ConfigData& c, const SegmentParams&) { return set_salt(c, *value); });
  }
  if (*pin_cmd) {
    auto v = parse_version(version);
    if (!v) return report(kTool, {Errc::invalid_argument, "version '" + version.substr(0, 40) + "' must be canary or legacy"});
    return change(segment, "pin", [&](ConfigData& c, const SegmentParams&) { return pin_user(c, user, *v); });
  }
  if (*unpin_cmd) return change(segment, "unpin", [&](ConfigData& c, const SegmentParams&) { return unpin_user(c, user); });
  return kExitError;
}
