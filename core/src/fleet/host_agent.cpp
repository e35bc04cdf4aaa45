// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/host_agent.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "canary/clock.hpp"
#include "canary/config.hpp"
#include "canary/config_edit.hpp"
#include "canary/log.hpp"
#include "canary/segment.hpp"

namespace canary::fleet {

using json = nlohmann::json;

namespace {

constexpr auto kRetry = std::chrono::milliseconds(500);

// Sleeps `d` in slices, so that a stop is seen within 50 ms.
void nap(const std::atomic<bool>& stop, std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!stop.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace

Expected<std::unique_ptr<HostAgent>> HostAgent::start(Segment& segment, Aggregator& aggregator, HostOptions options) {
  for (const auto& [what, value] : {std::pair<const char*, const std::string*>{"--deployment", &options.deployment},
                                    {"--host-id", &options.host_id},
                                    {"--region", &options.region}})
    if (std::string why = fleet_name_problem(what, *value); !why.empty()) return Status{Errc::invalid_argument, why};
  if (options.advertise.rfind("http://", 0) != 0 && options.advertise.rfind("https://", 0) != 0)
    return Status{Errc::invalid_argument, "--advertise must be http://HOST:PORT or https://HOST:PORT"};
  if (options.lease_ttl_s < 2 || options.lease_ttl_s > 3600)
    return Status{Errc::invalid_argument, "the lease TTL must be 2 to 3600 seconds"};
  // From now on local changes are refused: the fleet config is the only source.
  const Status marked = update_config(segment, "fleet: " + options.deployment, [](ConfigData& c) {
    c.fleet_managed = 1;
    return Status::Ok();
  });
  if (!marked.ok()) return marked;
  std::unique_ptr<HostAgent> agent(new HostAgent(segment, aggregator, std::move(options)));
  HostAgent* a = agent.get();
  aggregator.on_interval([a](IntervalData& d) { a->record(d); });
  aggregator.set_fleet_state(2);  // not connected until etcd answers
  a->follower_ = std::thread([a] { a->follow_config(); });
  a->registrar_ = std::thread([a] { a->keep_registered(); });
  return agent;
}

HostAgent::HostAgent(Segment& segment, Aggregator& aggregator, HostOptions options)
    : segment_(&segment),
      aggregator_(&aggregator),
      options_(std::move(options)),
      keys_(options_.deployment),
      epoch_(new_run_id()),
      // At least 5 minutes of intervals (SPEC section 11).
      history_(std::max<std::size_t>(300, 300000 / std::max<std::uint32_t>(1, options_.interval_ms) + 1)) {}

HostAgent::~HostAgent() {
  stop_.store(true);
  if (follower_.joinable()) follower_.join();
  if (registrar_.joinable()) registrar_.join();
  aggregator_->on_interval(nullptr);
}

void HostAgent::record(IntervalData& d) {
  HostInterval h;
  h.segment_id = segment_->header().created_unix_ns;
  h.id = {epoch_, ++sequence_};
  h.unix_ns = d.unix_ns;
  h.config_generation = d.config_generation;
  // Which step the interval belongs to: the generation applied, unless the config was written (or
  // routing fell back) while it was recorded; then the leader leaves it out of every step.
  const std::uint64_t writes = config_writes_.load(std::memory_order_acquire);
  h.fleet_generation = applied_generation_.load(std::memory_order_acquire);
  if (writes != config_writes_seen_ || writes % 2 != 0) h.fleet_flags |= kConfigChanged;
  if (fell_back_.load(std::memory_order_acquire)) h.fleet_flags |= kFellBack;
  config_writes_seen_ = writes;
  for (std::uint32_t v = 0; v < kMaxVersions; ++v) {
    for (std::uint32_t e = 0; e < d.endpoint_capacity; ++e) {
      const WindowCounts c = WindowCounts::of(d.slabs->at(static_cast<Version>(v), static_cast<EndpointId>(e)));
      if (c.requests != 0) h.cells.push_back({v, e, c});
    }
    h.latency[v] = std::move(d.latency[v]);
  }
  history_.push(h.id, encode_interval(h));
}

void HostAgent::set_connected(bool ok, const std::string& error) {
  const std::uint64_t now = monotonic_ms();
  if (ok) {
    lost_since_ms_.store(0, std::memory_order_relaxed);
  } else {
    etcd_errors_.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t expected = 0;
    if (lost_since_ms_.compare_exchange_strong(expected, now, std::memory_order_relaxed))
      log(LogLevel::warn, "etcd unreachable: keeping the last fleet config",
          {{"deployment", options_.deployment}, {"error", error}});
    std::lock_guard lock(error_mutex_);
    last_error_ = error;
  }
  const bool connected = lease_ok_.load(std::memory_order_relaxed) && watch_ok_.load(std::memory_order_relaxed);
  aggregator_->set_fleet_state(connected ? 1 : 2);
}

std::string HostAgent::registration() const {
  return json{{"host_id", options_.host_id},
              {"region", options_.region},
              {"url", options_.advertise},
              {"layout", kLayoutVersion},
              {"segment", segment_->name()},
              {"epoch", epoch_},
              {"applied_generation", applied_generation_.load(std::memory_order_relaxed)}}
      .dump();
}

void HostAgent::keep_registered() {
  EtcdClient etcd(options_.etcd);
  std::uint64_t registered_generation = UINT64_MAX;
  const auto beat = std::chrono::milliseconds(options_.lease_ttl_s * 1000 / 3);
  while (!stop_.load()) {
    std::int64_t lease = lease_.load();
    Status s;
    if (lease == 0) {
      auto granted = etcd.grant(options_.lease_ttl_s);
      if (granted) {
        lease = *granted;
        lease_.store(lease);
        registered_generation = UINT64_MAX;
      } else {
        s = granted.status();
      }
    } else {
      s = etcd.keep_alive(lease);
      if (s.code() == Errc::missing) {  // lapsed while etcd was away: a new lease, registered again
        lease_.store(0);
        lease = 0;
      }
    }
    const std::uint64_t applied = applied_generation_.load();
    if (s.ok() && lease != 0 && applied != registered_generation) {
      auto put = etcd.put(keys_.host(options_.host_id), registration(), lease);
      if (put) registered_generation = applied;
      else s = put.status();
    }
    lease_ok_.store(s.ok() && lease != 0);
    set_connected(s.ok() && lease != 0, s.message());

    // fleet.etcd_lost: legacy_after D: a host cut off from its fleet for D routes everyone legacy.
    const std::uint64_t lost = lost_since_ms_.load(), limit = etcd_lost_legacy_ms_.load();
    if (lost != 0 && limit != 0 && monotonic_ms() - lost >= limit && !fell_back_.load()) {
      const Status off = write_config("fleet: etcd lost", [](ConfigData& c) { return set_enabled(c, false); },
                                      [this](const Status& written) { fell_back_.store(written.ok(), std::memory_order_release); });
      log(off.ok() ? LogLevel::warn : LogLevel::error, "etcd lost for longer than the policy allows: routing every user legacy",
          {{"deployment", options_.deployment}, {"after_ms", std::to_string(limit)}, {"error", off.message()}});
    }
    nap(stop_, s.ok() ? beat : kRetry);
  }
  if (const std::int64_t lease = lease_.load(); lease != 0) (void)etcd.revoke(lease);  // leave the fleet now
}

Status HostAgent::write_config(const std::string& why, const std::function<Status(ConfigData&)>& edit,
                               const std::function<void(const Status&)>& settle) {
  config_writes_.fetch_add(1, std::memory_order_acq_rel);
  const Status s = update_config(*segment_, why, edit);
  settle(s);
  config_writes_.fetch_add(1, std::memory_order_acq_rel);
  return s;
}

bool HostAgent::apply(const std::string& text) {
  auto f = parse_fleet_config(text);
  if (!f) {
    apply_failures_.fetch_add(1, std::memory_order_relaxed);
    log(LogLevel::error, "fleet config refused", {{"deployment", options_.deployment}, {"error", f.status().message()}});
    return false;
  }
  etcd_lost_legacy_ms_.store(f->etcd_lost_legacy_ms);
  if (f->generation == applied_generation_.load() && !fell_back_.load()) return true;
  const std::uint32_t capacity = segment_->header().endpoint_capacity;
  const Status s = write_config(
      "fleet '" + options_.deployment + "' generation " + std::to_string(f->generation),
      [&](ConfigData& c) { return apply_fleet_config(*f, options_.region, c, capacity); },
      [&](const Status& written) {
        if (!written.ok()) return;
        fell_back_.store(false, std::memory_order_release);
        applied_generation_.store(f->generation, std::memory_order_release);
      });
  if (!s.ok()) {
    apply_failures_.fetch_add(1, std::memory_order_relaxed);
    log(LogLevel::error, "fleet config not applied",
        {{"deployment", options_.deployment}, {"generation", std::to_string(f->generation)}, {"error", s.message()}});
    return false;
  }
  log(LogLevel::info, "fleet config applied",
      {{"deployment", options_.deployment}, {"generation", std::to_string(f->generation)},
       {"share_bp", std::to_string(f->share_for(options_.region))}, {"state", std::string(to_string(f->state))}});
  return true;
}

void HostAgent::follow_config() {
  EtcdClient etcd(options_.etcd);
  while (!stop_.load()) {
    // Read at the current revision, then watch from just after it: nothing in between is missed.
    auto now = etcd.get(keys_.config());
    if (!now) {
      watch_ok_.store(false);
      set_connected(false, now.status().message());
      nap(stop_, kRetry);
      continue;
    }
    watch_ok_.store(true);
    set_connected(true);
    if (!now->kvs.empty()) apply(now->kvs.front().value);
    auto end = etcd.watch(keys_.config(), now->revision + 1, [&](std::int64_t, const std::vector<WatchEvent>& events) {
      for (const WatchEvent& e : events)
        if (!e.deleted && e.kv.key == keys_.config()) apply(e.kv.value);
    }, stop_);
    if (!end) {
      watch_ok_.store(false);
      set_connected(false, end.status().message());
      nap(stop_, kRetry);
    }
    // A compaction, or a watch that ran its time: read again.
  }
}

HostFleetStatus HostAgent::status() const {
  HostFleetStatus s;
  s.connected = lease_ok_.load() && watch_ok_.load();
  s.routing_disabled_for_etcd_loss = fell_back_.load();
  s.applied_generation = applied_generation_.load();
  const std::uint64_t lost = lost_since_ms_.load();
  s.disconnected_ms = lost == 0 ? 0 : monotonic_ms() - lost;
  s.etcd_errors = etcd_errors_.load();
  s.apply_failures = apply_failures_.load();
  {
    std::lock_guard lock(error_mutex_);
    s.last_error = last_error_;
  }
  s.newest = history_.newest().value_or(IntervalId{});
  return s;
}

}  // namespace canary::fleet
