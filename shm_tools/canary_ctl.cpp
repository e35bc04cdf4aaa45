// SPDX-License-Identifier: Apache-2.0
// canary-ctl: create, inspect and change a canary-shm segment. Every change goes through
// update_config(), so it is validated first, serialized with every other writer, and seen by each
// worker's next request; a refused change leaves the config exactly as it was.
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "canary/config.hpp"
#include "canary/config_edit.hpp"
#include "canary/clock.hpp"
#include "canary/deployment.hpp"
#include "canary/endpoint_template.hpp"
#include "canary/geometry.hpp"
#include "canary/liveness.hpp"
#include "canary/migrate.hpp"
#include "canary/summary.hpp"
#include "canary/ring.hpp"
#include "canary/router.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "canary/versions.hpp"
#include "canary/fleet/fleet_store.hpp"
#include "ctl_experiment.hpp"
#include "ctl_fleet.hpp"
#include "ctl_status.hpp"
#include "ctl_wait.hpp"
#include "ctl_watch.hpp"
#include "tool_common.hpp"

namespace canary::tools {
namespace {

constexpr std::string_view kTool = "canary-ctl";

struct InitArgs {
  bool force = false;
  bool even_if_live = false;
  std::string endpoints = "64", cpus, rings = "64", ring_records = "16384", mode, group;
  std::string percentage = "5", hash = "xxh3", salt = "0";
  bool disabled = false;
  bool no_seed_endpoints = false;
  bool dry_run = false;
  bool allow_world_writable = false;
  bool if_missing = false;
};

// What `init --dry-run` prints: the segment's size for these parameters, and whether /dev/shm
// (64 MB by default in a container) has room for it.
int print_planned_size(const std::string& segment, SegmentParams params) {
  if (params.cpu_slots == 0) params.cpu_slots = possible_cpu_count();
  const std::uint64_t size = compute_geometry(params).total_size;
  std::cout << "segment '" << segment << "' would take " << size << " bytes (" << (size + (1 << 20) - 1) / (1 << 20)
            << " MiB): " << params.cpu_slots << " CPU slots, " << params.endpoint_capacity << " endpoint slots, "
            << params.ring_count << " rings of " << params.ring_records << " records\n";
  struct statvfs fs {};
  if (statvfs("/dev/shm", &fs) == 0) {
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    std::cout << "/dev/shm has " << free_bytes / (1 << 20) << " MiB free: "
              << (free_bytes >= size ? "it fits" : "it does NOT fit (raise the container's --shm-size, or use fewer --rings or --cpus)")
              << '\n';
  }
  return kExitOk;
}

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

// Replacing or removing a segment under a live aggregator would leave it acting on an unlinked
// file (a rollback it reports would change nothing): refused unless asked for in so many words.
Status refuse_if_aggregator_alive(const std::string& segment, std::string_view action, bool even_if_live) {
  const SegmentHolder holder = segment_holder(segment);
  if (!holder.aggregator_alive || even_if_live) return Status::Ok();
  const std::string pid = holder.pid ? " (pid " + std::to_string(holder.pid) + ")" : "";
  return {Errc::refused, "segment '" + segment + "' is held by a live aggregator" + pid + "; stop it before " +
                             std::string(action) + ", or pass --even-if-live"};
}

int run_init(const std::string& segment, const InitArgs& a, bool fleet_given) {
  if (a.if_missing && a.force) return report_error(kTool, {Errc::invalid_argument, "--if-missing and --force exclude each other"});
  if (a.if_missing) {
    // A supervisor's ExecStartPre: an existing segment is kept as it is, if this user may use it.
    auto existing = Segment::attach(segment, Access::read_only);
    if (existing) {
      std::cout << "segment '" << segment << "' exists: kept as it is\n";
      return kExitOk;
    }
    if (existing.status().code() != Errc::missing) return report_error(kTool, existing.status());
  }
  if (a.force && !fleet_given)
    if (Status s = refuse_if_fleet_managed(segment, "init --force"); !s.ok()) return report_error(kTool, s);
  if (a.force) {
    if (Status s = refuse_if_aggregator_alive(segment, "init --force", a.even_if_live); !s.ok())
      return report_error(kTool, s);
  }
  CreateOptions options;
  options.name = segment;
  options.replace_existing = a.force;
  options.group = a.group;
  InitialConfig init;
  init.enabled = !a.disabled;
  if (a.no_seed_endpoints) init.endpoints.clear();

  auto capacity = parse_bounded(a.endpoints, "--endpoints", kMinEndpointCapacity, kMaxEndpoints);
  if (!capacity) return report_error(kTool, capacity.status());
  options.params.endpoint_capacity = static_cast<std::uint32_t>(*capacity);
  if (!a.cpus.empty()) {
    auto cpus = parse_bounded(a.cpus, "--cpus", 1, kMaxCpuSlots);
    if (!cpus) return report_error(kTool, cpus.status());
    options.params.cpu_slots = static_cast<std::uint32_t>(*cpus);
  }
  auto rings = parse_bounded(a.rings, "--rings", 1, kMaxRingCount);
  if (!rings) return report_error(kTool, rings.status());
  options.params.ring_count = static_cast<std::uint32_t>(*rings);
  auto records = parse_bounded(a.ring_records, "--ring-records", kMinRingRecords, kMaxRingRecords);
  if (!records) return report_error(kTool, records.status());
  options.params.ring_records = static_cast<std::uint32_t>(*records);
  // A group is given for the workers to write the segment: its default mode lets them.
  const std::string mode_text = !a.mode.empty() ? a.mode : a.group.empty() ? "0600" : "0660";
  auto mode = parse_mode(mode_text);
  if (!mode) return report_error(kTool, mode.status());
  options.mode = *mode;
  options.allow_world_writable = a.allow_world_writable;
  if ((*mode & S_IROTH) && !((*mode & S_IWOTH) && !a.allow_world_writable))
    std::cerr << kTool << ": warning: mode " << mode_text
              << " lets every local user read the segment: its config, its counts and the users' hashes\n";
  auto share = parse_share_percent(a.percentage);
  if (!share) return report_error(kTool, share.status());
  init.share_bp = *share;
  auto hash = parse_hash_mode(a.hash);
  if (!hash) return report_error(kTool, {Errc::invalid_argument, "hash must be xxh3 or md5"});
  init.hash = *hash;
  auto salt = parse_u64(a.salt, "salt");
  if (!salt) return report_error(kTool, salt.status());
  init.salt = *salt;

  auto config = make_initial_config(init, options.params.endpoint_capacity);
  if (!config) return report_error(kTool, config.status());
  if (a.dry_run) return print_planned_size(segment, options.params);
  auto created = Segment::create(options, *config);
  if (!created) return report_error(kTool, created.status());
  const auto& h = created->header();
  std::cout << "created segment '" << segment << "': " << h.total_size << " bytes, " << h.cpu_slots << " CPU slots, "
            << h.endpoint_capacity << " endpoint slots, " << h.ring_count << " rings of " << h.ring_records
            << " records\n";
  return kExitOk;
}

// An edit sees the segment's parameters too (add-endpoint needs its endpoint capacity), and may
// fill in the event the change makes.
using Edit = std::function<Status(ConfigData&, const SegmentParams&, EventDraft&)>;

int change(const std::string& segment, const std::string& action, const Edit& edit) {
  if (Status s = refuse_if_fleet_managed(segment, action); !s.ok()) return report_error(kTool, s);
  auto attached = Segment::attach(segment, Access::read_write);
  if (!attached) return report_error(kTool, attached.status());
  const SegmentParams params = attached->geometry().params;
  EventDraft event;
  const Status s = update_config(
      *attached, who("canary-ctl " + action), [&](ConfigData& c) { return edit(c, params, event); }, &event);
  if (!s.ok()) return report_error(kTool, s);
  std::cout << action << ": done (generation "
            << attached->config().published.load(std::memory_order_acquire) << ")\n";
  return kExitOk;
}

// One line per user, in the order given; every user is checked before anything is printed.
int run_route(const std::string& segment, const std::vector<std::string>& users, const std::string* path) {
  for (const std::string& user : users)
    if (std::string why = user_id_problem(user); !why.empty()) return report_error(kTool, {Errc::invalid_argument, why});
  if (path && path->empty()) return report_error(kTool, {Errc::invalid_argument, "path is empty"});
  if (path && path->size() > kMaxPathBytes)
    return report_error(kTool, {Errc::invalid_argument, "path is " + std::to_string(path->size()) + " bytes; the limit is " +
                                                      std::to_string(kMaxPathBytes)});
  auto attached = Segment::attach(segment, Access::read_only);
  if (!attached) return report_error(kTool, attached.status());
  auto router = std::make_unique<Router>();
  router->bind(&attached->config(), attached->geometry().params.endpoint_capacity, &attached->aggregator().heartbeat_unix_ns);
  if (router->generation() == 0)
    return report_error(kTool, {Errc::corrupt, "the segment's config is corrupt: neither copy is valid"});
  for (const std::string& user : users) {
    const Version version = path ? router->route(user, std::string_view(*path)).version : router->version_of_user(user);
    std::cout << router->version_name(version) << '\n';
  }
  return kExitOk;
}

// Whether the live aggregator's latest judgement (published in the segment) says the gate holds.
Expected<bool> gate_holds_now(const std::string& segment, std::uint32_t candidate) {
  auto attached = Segment::attach(segment, Access::read_only);
  if (!attached) return attached.status();
  auto summary = std::make_unique<SummaryData>();
  const Status stale{Errc::refused, "no live aggregator has judged the gate lately; promote --force skips the gate"};
  if (aggregator_liveness(*attached).state != AggregatorState::alive || !read_summary(*attached, *summary) ||
      summary->judged_unix_ns == 0)
    return stale;
  // Lately: within three intervals, and never more than 5 s on top.
  const std::uint64_t fresh_ns = 5'000'000'000ull + 3ull * summary->interval_ms * 1'000'000;
  if (unix_now_ns() - summary->judged_unix_ns > fresh_ns) return stale;
  return ((summary->gate_holds_by_version >> candidate) & 1) != 0;
}

// The candidate a command's --version names (or the only one), as the config stands.
Expected<std::uint32_t> candidate_named(const std::string& segment, const std::string& name) {
  auto attached = Segment::attach(segment, Access::read_only);
  if (!attached) return attached.status();
  auto config = std::make_unique<ConfigData>();
  if (!read_config(attached->config(), *config, attached->geometry().params.endpoint_capacity).ok)
    return Status{Errc::corrupt, "the segment's config is corrupt: neither copy is valid"};
  return pick_candidate(*config, name);
}

int run_reap(const std::string& segment) {
  auto attached = Segment::attach(segment, Access::read_write);
  if (!attached) return report_error(kTool, attached.status());
  auto consumer = RingConsumer::open(*attached);
  if (!consumer) return report_error(kTool, consumer.status());
  const ReclaimStats reaped = consumer->reap_dead();
  std::cout << "reap: freed " << reaped.rings << " rings of dead writers; " << reaped.discarded
            << " undrained records counted as dropped; " << reaped.unanswered
            << " requests they had in flight counted as unavailable (status 0)\n";
  return kExitOk;
}

}  // namespace
}  // namespace canary::tools

int main(int argc, char** argv) {
  using namespace canary;
  using namespace canary::tools;

  CLI::App app{"Create, inspect and change a canary-shm segment.", "canary-ctl"};
  add_version_flag(app, "canary-ctl");
  std::string segment;
  add_segment_option(app, segment);
  app.require_subcommand(1);
  app.fallthrough();
  FleetTarget fleet_target;
  add_etcd_options(app, fleet_target.etcd);
  app.add_option("--deployment", fleet_target.deployment, "with --etcd: the fleet deployment the command acts on");

  InitArgs init;
  auto* init_cmd = app.add_subcommand("init", "create the segment (seven seed endpoints, 5%, enabled, xxh3, salt 0)");
  init_cmd->add_flag("--force", init.force, "replace an existing segment (not one a live aggregator holds)");
  init_cmd->add_flag("--even-if-live", init.even_if_live, "with --force: replace it even under a live aggregator");
  init_cmd->add_option("--endpoints", init.endpoints, "endpoint ids the slabs have room for, 'other' included (2..128, default 64)");
  init_cmd->add_option("--cpus", init.cpus, "CPU slots (default: every possible CPU)");
  init_cmd->add_option("--rings", init.rings, "writer rings (default 64)");
  init_cmd->add_option("--ring-records", init.ring_records, "records per ring, a power of two (default 16384)");
  init_cmd->add_option("--mode", init.mode, "octal permissions of the segment (default 0600; 0660 with --group)");
  init_cmd->add_option("--group", init.group, "group to give the segment to");
  init_cmd->add_flag("--if-missing", init.if_missing, "create it only when it does not exist (an existing one is kept)");
  init_cmd->add_flag("--allow-world-writable", init.allow_world_writable,
                     "accept a --mode that lets every local user write the segment (and so route every user)");
  init_cmd->add_option("--percentage", init.percentage, "initial canary percentage (default 5)");
  init_cmd->add_option("--hash", init.hash, "xxh3 or md5 (default xxh3)");
  init_cmd->add_option("--salt", init.salt, "xxh3 seed (default 0)");
  init_cmd->add_flag("--disabled", init.disabled, "start with the canary disabled");
  init_cmd->add_flag("--no-seed-endpoints", init.no_seed_endpoints, "register no endpoints");
  init_cmd->add_flag("--dry-run", init.dry_run, "print the size the segment would take and whether /dev/shm has room; create nothing");

  bool destroy_even_if_live = false;
  auto* destroy_cmd = app.add_subcommand("destroy", "remove the segment (not one a live aggregator holds)");
  destroy_cmd->add_flag("--even-if-live", destroy_even_if_live, "remove it even under a live aggregator");
  auto* status_cmd = app.add_subcommand("status", "print the config, state and endpoints as key: value lines");
  bool status_json = false;
  status_cmd->add_flag("--json", status_json, "one JSON object instead, with every event of the log");
  bool status_watch = false;
  std::string watch_every = "1";
  status_cmd->add_flag("--watch", status_watch, "print it again each time it changes, until interrupted");
  status_cmd->add_option("--every", watch_every, "with --watch: look every S seconds (default 1; 0.1 to 3600)");
  WaitArgs wait_args;
  auto* wait_cmd = app.add_subcommand(
      "wait", "block until the rollout reaches a state: exit 0; 1 if it reaches another it stays in; 124 on timeout");
  wait_cmd->add_option("--for", wait_args.states,
                       "STATE[,STATE]: running, paused, rolled_back, promoted, inconclusive, awaiting_approval")
      ->required();
  wait_cmd->add_option("--timeout", wait_args.timeout, "give up after this long (90s, 10m); default: no limit");
  bool migrate_even_if_live = false;
  auto* migrate_cmd = app.add_subcommand(
      "migrate", "rebuild a segment of the previous layout (6) as this one, same name, config and state (workers re-attach)");
  migrate_cmd->add_flag("--even-if-live", migrate_even_if_live, "replace it even under a live aggregator");

  std::string percentage, target;  // target: --version of the commands that act on one candidate
  auto* share_cmd = app.add_subcommand("set-percentage", "set a candidate's share, 0 to 100 with at most two decimals");
  share_cmd->add_option("percentage", percentage, "e.g. 10 or 12.5")->required();
  std::string region;
  share_cmd->add_option("--region", region, "with --etcd: only this region's hosts");
  auto* policy_cmd = app.add_subcommand("policy", "with --etcd: the fleet's policy");
  policy_cmd->require_subcommand(1);
  std::string policy_file;
  auto* policy_set_cmd = policy_cmd->add_subcommand("set", "store a policy file for every controller and host of the fleet");
  policy_set_cmd->add_option("file", policy_file, "the policy, YAML (docs/policy.md)")->required();

  auto* version_cmd = app.add_subcommand("version", "add, remove or list the candidate versions");
  version_cmd->require_subcommand(1);
  std::string version_name_arg, version_share = "0";
  auto* version_add_cmd = version_cmd->add_subcommand("add", "a new candidate (at most 7), at --share (default 0)");
  version_add_cmd->add_option("name", version_name_arg, "1-31 bytes of [a-z0-9._-]")->required();
  version_add_cmd->add_option("--share", version_share, "its percentage");
  auto* version_remove_cmd = version_cmd->add_subcommand("remove", "retire a candidate whose share is 0 (its counts stay)");
  version_remove_cmd->add_option("name", version_name_arg, "a candidate")->required();
  auto* version_list_cmd = version_cmd->add_subcommand("list", "print each version's name, role, share and state");

  std::string switch_to_name;
  bool switch_back_flag = false;
  auto* switch_cmd = app.add_subcommand("switch", "blue-green: every user to one version at once (--to NAME), or back (--back)");
  auto* switch_to_opt = switch_cmd->add_option("--to", switch_to_name, "the version to send every user to");
  auto* switch_back_opt = switch_cmd->add_flag("--back", switch_back_flag, "restore the shares from before the switch");
  switch_to_opt->excludes(switch_back_opt);
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
  pin_cmd->add_option("--version", version, "a version's name (legacy, canary, ...)")->required();
  auto* unpin_cmd = app.add_subcommand("unpin", "remove a user's pin");
  unpin_cmd->add_option("--user", user, "user id")->required();

  std::vector<std::string> route_users;
  auto* route_cmd = app.add_subcommand("route", "print legacy or canary for a user (and a request path)");
  route_cmd->add_option("--user", route_users, "user id; repeated: one line per user, in order")->required()->allow_extra_args(false);
  auto* path_opt = route_cmd->add_option("--path", path, "request path; without it: is_canary_user");

  auto* reap_cmd = app.add_subcommand("reap", "free dead writers' rings when no aggregator runs (undrained records count as dropped)");

  std::string reason, start_share, start_salt, start_baseline;
  bool force = false;
  auto* start_cmd = app.add_subcommand("start", "begin a new rollout: running, at --share or the first ramp step");
  start_cmd->add_option("--share", start_share, "canary percentage to start at");
  start_cmd->add_option("--salt", start_salt, "a new xxh3 salt: reshuffles users");
  start_cmd->add_option("--baseline", start_baseline,
                        "judge against this version: the one a promotion left serving everyone (the default) or the current baseline");
  auto* promote_cmd = app.add_subcommand("promote", "send everyone to the canary, if the gate holds");
  promote_cmd->add_flag("--force", force, "promote without the gate");
  auto* rollback_cmd = app.add_subcommand("rollback", "send everyone back to legacy (share 0)");
  auto* pause_cmd = app.add_subcommand("pause", "freeze the ramp (triggers still roll back)");
  auto* resume_cmd = app.add_subcommand("resume", "let the ramp go on");
  auto* approve_cmd = app.add_subcommand("approve", "allow the last step to 100% the policy waits for");
  auto* srm_clear_cmd = app.add_subcommand("srm-clear", "clear a sample-ratio mismatch once its cause is found (the test starts again)");
  for (CLI::App* cmd : {start_cmd, promote_cmd, rollback_cmd, pause_cmd, resume_cmd, approve_cmd, srm_clear_cmd, switch_cmd})
    cmd->add_option("--reason", reason, "why, for the event log");
  ExperimentArgs experiment_args;
  add_experiment_commands(app, experiment_args);
  for (CLI::App* cmd : {start_cmd, promote_cmd, rollback_cmd, pause_cmd, resume_cmd, approve_cmd, srm_clear_cmd, share_cmd,
                        add_cmd, remove_cmd, wait_cmd})
    cmd->add_option("--version", target, "the candidate it acts on (optional when there is only one)");

  if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;

  const bool fleet_given = !fleet_target.etcd.endpoints.empty();
  if (*status_cmd && !status_watch && status_cmd->count("--every") > 0)
    return report_error(kTool, {Errc::invalid_argument, "--every goes with --watch"});
  if (fleet_given && *status_cmd && status_watch)
    return report_error(kTool, {Errc::invalid_argument, "status --watch reads a local segment; a fleet's status is on its controller"});
  if (fleet_given) {
    // The fleet's commands write etcd; init, destroy, reap, migrate and route act on this host's
    // segment (given --etcd, a fleet-managed one too).
    using FleetEdit = std::function<Status(fleet::FleetConfig&, const Policy&)>;
    auto on_fleet = [&](const char* action, const FleetEdit& edit) { return fleet_change(fleet_target, action, edit); };
    if (*status_cmd && status_json)
      return report_error(kTool, {Errc::invalid_argument,
                                  "status --json reads a local segment; a fleet's is GET /api/v2/admin/canary/status on its controller"});
    if (*status_cmd) return fleet_status(fleet_target, std::cout);
    if (*wait_cmd) {
      if (!target.empty())
        return report_error(kTool, {Errc::invalid_argument, "wait --version: a fleet deploys one candidate"});
      return run_wait(wait_args, fleet_rollout_reader(fleet_target), std::chrono::milliseconds(500));
    }
    if (*policy_set_cmd) return fleet_policy_set(fleet_target, policy_file);
    if (*experiment_args.command)
      return report_error(kTool, {Errc::invalid_argument, "experiments are single-host in this release: run them without --etcd"});
    if (*start_cmd) {
      std::optional<std::uint32_t> bp;
      std::optional<std::uint64_t> new_salt;
      if (!start_share.empty()) {
        auto parsed = parse_share_percent(start_share);
        if (!parsed) return report_error(kTool, parsed.status());
        bp = *parsed;
      }
      if (!start_salt.empty()) {
        auto parsed = parse_u64(start_salt, "salt");
        if (!parsed) return report_error(kTool, parsed.status());
        new_salt = *parsed;
      }
      return on_fleet("start", [&](fleet::FleetConfig& c, const Policy& p) { return fleet::fleet_start(c, p, bp, new_salt); });
    }
    if (*promote_cmd) return on_fleet("promote", [&](fleet::FleetConfig& c, const Policy&) { return fleet::fleet_promote(c, force); });
    if (*approve_cmd) return on_fleet("approve", [](fleet::FleetConfig& c, const Policy&) { return fleet::fleet_approve(c); });
    if (*rollback_cmd)
      return on_fleet("rollback", [&](fleet::FleetConfig& c, const Policy&) {
        return fleet::fleet_rollback(c, reason.empty() ? "rolled back by hand" : reason);
      });
    if (*pause_cmd) return on_fleet("pause", [](fleet::FleetConfig& c, const Policy&) { return fleet::fleet_pause(c); });
    if (*resume_cmd) return on_fleet("resume", [](fleet::FleetConfig& c, const Policy&) { return fleet::fleet_resume(c); });
    if (*share_cmd) {
      auto bp = parse_share_percent(percentage);
      if (!bp) return report_error(kTool, bp.status());
      std::optional<std::string> only;
      if (!region.empty()) only = region;
      return on_fleet("set-percentage", [&](fleet::FleetConfig& c, const Policy&) { return fleet::fleet_set_share(c, *bp, only); });
    }
    if (*enable_cmd || *disable_cmd) {
      const bool on = static_cast<bool>(*enable_cmd);
      return on_fleet(on ? "enable" : "disable", [on](fleet::FleetConfig& c, const Policy&) {
        c.enabled = on;
        return Status::Ok();
      });
    }
    if (*add_cmd) return on_fleet("add-endpoint", [&](fleet::FleetConfig& c, const Policy&) { return fleet::fleet_add_endpoint(c, path); });
    if (*remove_cmd)
      return on_fleet("remove-endpoint", [&](fleet::FleetConfig& c, const Policy&) { return fleet::fleet_remove_endpoint(c, path); });
    if (*pin_cmd) return on_fleet("pin", [&](fleet::FleetConfig& c, const Policy&) { return fleet::fleet_pin(c, user, version); });
    if (*unpin_cmd) return on_fleet("unpin", [&](fleet::FleetConfig& c, const Policy&) { return fleet::fleet_unpin(c, user); });
    if (*salt_cmd) {
      auto value = parse_u64(salt, "salt");
      if (!value) return report_error(kTool, value.status());
      return on_fleet("set-salt", [&](fleet::FleetConfig& c, const Policy&) {
        c.salt = *value;
        return Status::Ok();
      });
    }
    if (*hash_cmd) {
      auto mode = parse_hash_mode(hash);
      if (!mode) return report_error(kTool, {Errc::invalid_argument, "hash '" + hash.substr(0, 40) + "' must be xxh3 or md5"});
      return on_fleet("set-hash", [&](fleet::FleetConfig& c, const Policy&) {
        c.hash = *mode;
        return Status::Ok();
      });
    }
    if (!*init_cmd && !*destroy_cmd && !*reap_cmd && !*migrate_cmd && !*route_cmd)
      return report_error(kTool, {Errc::invalid_argument, "this command has no fleet form: a fleet deploys one candidate (docs/fleet.md)"});
  } else if (*policy_cmd) {
    return report_error(kTool, {Errc::invalid_argument, "policy set needs --etcd and --deployment (a single host reads --policy)"});
  } else if (!region.empty()) {
    return report_error(kTool, {Errc::invalid_argument, "--region needs --etcd: regions are a fleet's"});
  }
  if (!fleet_given) {
    for (auto [cmd, action] : {std::pair<CLI::App*, const char*>{destroy_cmd, "destroy"}, {reap_cmd, "reap"}, {migrate_cmd, "migrate"}})
      if (*cmd)
        if (Status s = refuse_if_fleet_managed(segment, action); !s.ok()) return report_error(kTool, s);
  }

  if (*init_cmd) return run_init(segment, init, fleet_given);
  if (*destroy_cmd) {
    if (Status s = refuse_if_aggregator_alive(segment, "destroy", destroy_even_if_live); !s.ok())
      return report_error(kTool, s);
    if (Status s = Segment::destroy(segment); !s.ok()) return report_error(kTool, s);
    std::cout << "destroyed segment '" << segment << "'\n";
    return kExitOk;
  }
  if (*status_cmd && status_watch) {
    auto every = parse_number(watch_every, "--every");
    if (!every || *every < 0.1 || *every > 3600)
      return report_error(kTool, {Errc::invalid_argument, "--every '" + watch_every.substr(0, 40) + "' must be seconds from 0.1 to 3600"});
    return watch_status(segment, status_json, std::chrono::milliseconds(static_cast<long>(*every * 1000)), std::cout);
  }
  if (*status_cmd) return status_json ? print_status_json(segment, std::cout) : print_status(segment, std::cout);
  if (*wait_cmd) return run_wait(wait_args, segment_rollout_reader(segment, target), std::chrono::milliseconds(100));
  if (*migrate_cmd) {
    auto from = migrate_segment({segment, migrate_even_if_live});
    if (!from) return report_error(kTool, from.status());
    std::cout << "migrated segment '" << segment << "' from layout " << *from << " to " << kLayoutVersion
              << ": config, shares, pins and state kept; workers re-attach within a second; counts start at zero\n";
    return kExitOk;
  }
  if (*reap_cmd) return run_reap(segment);
  if (*experiment_args.command) return run_experiment_command(experiment_args, segment);
  if (*start_cmd) {
    StartOptions options;
    if (!start_share.empty()) {
      auto bp = parse_share_percent(start_share);
      if (!bp) return report_error(kTool, bp.status());
      options.share_bp = *bp;
    }
    if (!start_salt.empty()) {
      auto new_salt = parse_u64(start_salt, "salt");
      if (!new_salt) return report_error(kTool, new_salt.status());
      options.salt = *new_salt;
    }
    return change(segment, "start", [&](ConfigData& c, const SegmentParams&, EventDraft& e) {
      auto k = pick_candidate(c, target);
      if (!k) return k.status();
      if (!start_baseline.empty()) {
        auto b = find_version(c, start_baseline);
        if (!b) return Status{Errc::invalid_argument, "unknown version '" + start_baseline.substr(0, 40) + "'"};
        options.baseline = *b;
      }
      return start_rollout(c, options, reason, e, *k);
    });
  }
  if (*promote_cmd) {
    bool holds = false;
    if (!force) {
      auto k = candidate_named(segment, target);
      if (!k) return report_error(kTool, k.status());
      auto gate = gate_holds_now(segment, *k);
      if (!gate) return report_error(kTool, gate.status());
      holds = *gate;
    }
    return change(segment, force ? "promote --force" : "promote", [&](ConfigData& c, const SegmentParams&, EventDraft& e) {
      auto k = pick_candidate(c, target);
      return k ? promote(c, force, holds, reason, e, *k) : k.status();
    });
  }
  // The commands that act on one candidate: --version NAME, or the only one.
  using CandidateCommand = Status (*)(ConfigData&, std::string_view, EventDraft&, std::uint32_t);
  auto on_candidate = [&](const char* action, CandidateCommand command) {
    return change(segment, action, [&](ConfigData& c, const SegmentParams&, EventDraft& e) {
      auto k = pick_candidate(c, target);
      return k ? command(c, reason, e, *k) : k.status();
    });
  };
  if (*rollback_cmd) return on_candidate("rollback", roll_back);
  if (*pause_cmd) return on_candidate("pause", pause);
  if (*resume_cmd) return on_candidate("resume", resume);
  if (*approve_cmd) return on_candidate("approve", approve);
  if (*srm_clear_cmd) return on_candidate("srm-clear", clear_srm);
  if (*version_add_cmd) {
    auto bp = parse_share_percent(version_share);
    if (!bp) return report_error(kTool, bp.status());
    return change(segment, "version add", [&](ConfigData& c, const SegmentParams&, EventDraft& e) -> Status {
      auto added = add_version(c, version_name_arg, *bp);
      if (!added) return added.status();
      e.kind = EventKind::started;
      e.version = *added;
      e.reason = "version " + version_name_arg + " added at " + format_share_percent(*bp) + "%";
      return Status::Ok();
    });
  }
  if (*version_remove_cmd)
    return change(segment, "version remove",
                  [&](ConfigData& c, const SegmentParams&, EventDraft&) { return remove_version(c, version_name_arg); });
  if (*version_list_cmd) return print_versions(segment, std::cout);
  if (*switch_cmd) {
    if (!switch_back_flag && switch_to_name.empty())
      return report_error(kTool, {Errc::invalid_argument, "switch needs --to NAME or --back"});
    return change(segment, switch_back_flag ? "switch --back" : "switch", [&](ConfigData& c, const SegmentParams&, EventDraft& e) {
      if (switch_back_flag) return switch_back(c, reason, e);
      auto v = find_version(c, switch_to_name);
      if (!v) return Status{Errc::invalid_argument, "unknown version '" + switch_to_name.substr(0, 40) + "'"};
      return switch_to(c, *v, reason, e);
    });
  }
  if (*route_cmd) return run_route(segment, route_users, path_opt->count() ? &path : nullptr);

  if (*share_cmd) {
    auto bp = parse_share_percent(percentage);
    if (!bp) return report_error(kTool, bp.status());
    return change(segment, "set-percentage", [&](ConfigData& c, const SegmentParams&, EventDraft& e) {
      auto k = pick_candidate(c, target);
      return k ? set_share_by_hand(c, *bp, e, *k) : k.status();
    });
  }
  if (*enable_cmd) return change(segment, "enable", [](ConfigData& c, const SegmentParams&, EventDraft&) { return set_enabled(c, true); });
  if (*disable_cmd) return change(segment, "disable", [](ConfigData& c, const SegmentParams&, EventDraft&) { return set_enabled(c, false); });
  if (*add_cmd) {
    return change(segment, "add-endpoint",
                  [&](ConfigData& c, const SegmentParams& p, EventDraft&) -> Status {
                    if (target.empty()) return add_endpoint(c, path, p.endpoint_capacity);
                    auto k = pick_candidate(c, target);
                    return k ? add_endpoint(c, path, p.endpoint_capacity, *k) : k.status();
                  });
  }
  if (*remove_cmd)
    return change(segment, "remove-endpoint", [&](ConfigData& c, const SegmentParams&, EventDraft&) -> Status {
      if (target.empty()) return remove_endpoint(c, path);
      auto k = pick_candidate(c, target);
      return k ? remove_endpoint(c, path, *k) : k.status();
    });
  if (*hash_cmd) {
    auto mode = parse_hash_mode(hash);
    if (!mode) return report_error(kTool, {Errc::invalid_argument, "hash '" + hash.substr(0, 40) + "' must be xxh3 or md5"});
    return change(segment, "set-hash", [&](ConfigData& c, const SegmentParams&, EventDraft&) { return set_hash_mode(c, *mode); });
  }
  if (*salt_cmd) {
    auto value = parse_u64(salt, "salt");
    if (!value) return report_error(kTool, value.status());
    return change(segment, "set-salt", [&](ConfigData& c, const SegmentParams&, EventDraft&) { return set_salt(c, *value); });
  }
  if (*pin_cmd) {
    return change(segment, "pin", [&](ConfigData& c, const SegmentParams&, EventDraft&) {
      auto v = find_version(c, version);
      if (!v) {
        std::string known;
        for (std::uint32_t i : active_candidates(c)) known += std::string(version_name(c, i)) + " or ";
        known += version_name(c, c.baseline);  // "canary or legacy" with two versions
        return Status{Errc::invalid_argument, "version '" + version.substr(0, 40) + "' must be " + known};
      }
      return pin_user(c, user, *v);
    });
  }
  if (*unpin_cmd) return change(segment, "unpin", [&](ConfigData& c, const SegmentParams&, EventDraft&) { return unpin_user(c, user); });
  return kExitError;
}
