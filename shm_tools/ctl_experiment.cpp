// SPDX-License-Identifier: Apache-2.0
#include "ctl_experiment.hpp"

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "canary/clock.hpp"
#include "canary/config.hpp"
#include "canary/experiment/definition.hpp"
#include "canary/experiment/results.hpp"
#include "canary/experiment/tracker.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"
#include "ctl_fleet.hpp"
#include "tool_common.hpp"

namespace canary::tools {

namespace {

constexpr std::string_view kTool = "canary-ctl";
using nlohmann::json;

// A change of the config that also reads the segment (its drop counts).
using SegmentChange = std::function<Status(ConfigData&, const Segment&)>;

int edit(const std::string& segment, const std::string& action, const SegmentChange& change) {
  if (Status s = refuse_if_fleet_managed(segment, action); !s.ok()) return report_error(kTool, s);
  auto attached = Segment::attach(segment, Access::read_write);
  if (!attached) return report_error(kTool, attached.status());
  const Segment& seg = *attached;
  if (Status s = update_config(*attached, who("canary-ctl " + action), [&](ConfigData& c) { return change(c, seg); }); !s.ok())
    return report_error(kTool, s);
  std::cout << action << ": done (generation " << attached->config().published.load(std::memory_order_acquire) << ")\n";
  return kExitOk;
}

int edit(const std::string& segment, const std::string& action, const std::function<Status(ConfigData&)>& change) {
  return edit(segment, action, SegmentChange([&](ConfigData& c, const Segment&) { return change(c); }));
}

std::string interval_text(const json& i, bool percent) {
  const auto side = [&](const json& v, const char* unbounded) {
    if (v.is_null()) return std::string(unbounded);
    char buf[32];
    std::snprintf(buf, sizeof buf, percent ? "%+.2f%%" : "%.4g", percent ? v.get<double>() * 100 : v.get<double>());
    return std::string(buf);
  };
  return "[" + side(i[0], "-inf") + ", " + side(i[1], "+inf") + "]";
}

// The results for people: one block per arm, one line per metric.
void print_results(const json& r) {
  std::cout << "experiment: " << r["name"].get<std::string>() << "\nstate: " << r["state"].get<std::string>() << " ("
            << r["reason"].get<std::string>() << ")\nexposure: " << r["exposure_percent"].get<std::string>()
            << "%\nalpha: " << r["alpha"].get<double>() << " over " << r["comparisons"].get<int>() << " comparisons\n";
  if (!r["aggregated"].get<bool>()) std::cout << "aggregated: no (no aggregator has published totals for it yet)\n";
  for (const json& arm : r["arms"]) {
    std::cout << "arm " << arm["name"].get<std::string>() << ": share " << arm["share_percent"].get<std::string>() << "%, "
              << arm["users"].get<std::uint64_t>() << " users, " << arm["exposures"].get<std::uint64_t>() << " exposures";
    if (arm.contains("version")) std::cout << ", version " << arm["version"].get<std::string>();
    std::cout << ", verdict " << arm["verdict"].get<std::string>() << '\n';
    for (const auto& [name, m] : arm["metrics"].items()) {
      std::cout << "  " << name << " (" << m["kind"].get<std::string>() << "): mean " << m["mean"].get<double>() << " "
                << interval_text(m["mean_interval"], false);
      if (&arm != &r["arms"][0])
        std::cout << ", difference " << interval_text(m["difference"], false) << ", lift "
                  << interval_text(m["relative_lift"], true) << ", " << m["verdict"].get<std::string>();
      std::cout << '\n';
    }
  }
  std::cout << "srm: " << (r["srm"]["detected"].get<bool>() ? "detected" : "not detected") << " (" << r["srm"]["users"]
            << " users)\nrecords dropped: " << r["records_dropped"] << "\nusers untracked: " << r["users_untracked"]
            << "\nrecords ignored: " << r["records_ignored"] << "\narm mismatches: " << r["arm_mismatches"]
            << "\nrecords lost to aggregator restarts: " << r["records_lost"] << '\n';
}

int show(const ExperimentArgs& a, const std::string& segment) {
  auto attached = Segment::attach(segment, Access::read_only);
  if (!attached) return report_error(kTool, attached.status());
  auto shown = experiment::show_json(*attached, a.name);
  if (!shown) return report_error(kTool, shown.status());
  if (a.json) std::cout << shown->dump(2) << '\n';
  else print_results(*shown);
  return kExitOk;
}

int list(const ExperimentArgs& a, const std::string& segment) {
  auto attached = Segment::attach(segment, Access::read_only);
  if (!attached) return report_error(kTool, attached.status());
  auto listed = experiment::list_json(*attached);
  if (!listed) return report_error(kTool, listed.status());
  if (a.json) {
    std::cout << json{{"experiments", *listed}}.dump(2) << '\n';
    return kExitOk;
  }
  if (listed->empty()) std::cout << "no experiments\n";
  for (const json& e : *listed) {
    std::cout << e["name"].get<std::string>() << ": " << e["state"].get<std::string>();
    for (const json& arm : e["arms"])
      std::cout << ", " << arm["name"].get<std::string>() << " " << arm["users"] << " users " << arm["verdict"].get<std::string>();
    if (e["srm_detected"].get<bool>()) std::cout << ", srm detected";
    std::cout << '\n';
  }
  return kExitOk;
}

Expected<experiment::ExperimentSpec> spec_of(const ExperimentArgs& a) {
  experiment::ExperimentSpec spec;
  spec.name = a.name;
  auto arms = experiment::parse_arms(a.arms);
  if (!arms) return arms.status();
  spec.arms = std::move(*arms);
  for (const std::string& m : a.metrics) {
    auto metric = experiment::parse_metric(m);
    if (!metric) return metric.status();
    spec.metrics.push_back(std::move(*metric));
  }
  spec.endpoints = a.endpoints;
  if (!a.exposure.empty()) {
    auto bp = parse_share_percent(a.exposure);
    if (!bp) return Status{Errc::invalid_argument, "--exposure: " + bp.status().message()};
    spec.exposure_bp = *bp;
  }
  if (!a.salt.empty()) {
    auto salt = parse_u64(a.salt, "salt");
    if (!salt) return salt.status();
    spec.salt = *salt;
  }
  return spec;
}

}  // namespace

void add_experiment_commands(CLI::App& app, ExperimentArgs& a) {
  a.command = app.add_subcommand("experiment", "A/B experiments: create, start, stop, conclude, remove, show, list");
  a.command->require_subcommand(1);
  a.create = a.command->add_subcommand("create", "define an experiment (a draft until start)");
  a.create->add_option("--arms", a.arms, "NAME:SHARE[@VERSION],... in percent, control first, summing to 100")->required();
  a.create->add_option("--endpoints", a.endpoints, "templates a version-bound arm routes on (default: every endpoint)")
      ->delimiter(',');
  a.create->add_option("--metric", a.metrics, "NAME:conversion|sum|count (repeatable, at most 4; the first is primary)");
  a.create->add_option("--exposure", a.exposure, "the share of users in the experiment at all, percent (default 100)");
  a.create->add_option("--salt", a.salt, "the assignment's salt (default: drawn from the name and the time)");
  a.start = a.command->add_subcommand("start", "assign arms to users (draft or stopped -> running)");
  a.stop = a.command->add_subcommand("stop", "everyone to control again; the results stay");
  a.stop->add_option("--reason", a.reason, "why, for people");
  a.conclude = a.command->add_subcommand("conclude", "everyone to one arm (--arm, default control); the results stay");
  a.conclude->add_option("--arm", a.arm, "the arm every user gets");
  a.remove = a.command->add_subcommand("remove", "free a stopped, concluded or draft experiment's slot (its results go)");
  a.show = a.command->add_subcommand("show", "per arm: users, exposures, each metric's mean, difference, lift and verdict");
  a.show->add_flag("--json", a.json, "the admin API's JSON");
  a.list = a.command->add_subcommand("list", "every experiment, its state and its arms' verdicts");
  a.list->add_flag("--json", a.json, "as JSON");
  for (CLI::App* cmd : {a.create, a.start, a.stop, a.conclude, a.remove, a.show})
    cmd->add_option("name", a.name, "the experiment")->required();
}

int run_experiment_command(const ExperimentArgs& a, const std::string& segment) {
  if (*a.show) return show(a, segment);
  if (*a.list) return list(a, segment);
  if (*a.create) {
    auto spec = spec_of(a);
    if (!spec) return report_error(kTool, spec.status());
    return edit(segment, "experiment create", [&](ConfigData& c) { auto created = experiment::create(c, *spec, unix_now_ns());
      return created ? Status::Ok() : created.status(); });
  }
  if (*a.start)
    return edit(segment, "experiment start", [&](ConfigData& c, const Segment& s) {
      std::uint64_t drops[kMaxExperiments];
      experiment::drops_from(s, drops);
      return experiment::start(c, a.name, unix_now_ns(), drops);
    });
  if (*a.stop)
    return edit(segment, "experiment stop", [&](ConfigData& c) { return experiment::stop(c, a.name, a.reason, unix_now_ns()); });
  if (*a.conclude)
    return edit(segment, "experiment conclude", [&](ConfigData& c) { return experiment::conclude(c, a.name, a.arm, unix_now_ns()); });
  return edit(segment, "experiment remove", [&](ConfigData& c) { return experiment::remove(c, a.name); });
}

}  // namespace canary::tools
