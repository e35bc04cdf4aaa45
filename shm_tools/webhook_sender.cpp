// SPDX-License-Identifier: Apache-2.0
#include "webhook_sender.hpp"

#include <unistd.h>

#include <chrono>

#include "canary/http/client.hpp"
#include "canary/log.hpp"
#include "canary/report/decision_json.hpp"

namespace canary::tools {

namespace {

constexpr std::size_t kMaxQueued = 1000;

std::string host_name() {
  char name[256] = {};
  return gethostname(name, sizeof name - 1) == 0 ? name : "unknown-host";
}

std::string text_of(const Event& e, const std::string& segment) {
  return "canary-shm [" + segment + "]: " + report::event_line(e);
}

}  // namespace

nlohmann::json slack_body(const Event& e, const std::string& segment) { return {{"text", text_of(e, segment)}}; }

nlohmann::json pagerduty_body(const Event& e, const std::string& segment, const std::string& routing_key) {
  return {{"routing_key", routing_key},
          {"event_action", "trigger"},
          {"dedup_key", "canary-shm/" + segment + "/event-" + std::to_string(e.seq)},
          {"payload",
           {{"summary", text_of(e, segment).substr(0, 1024)},
            {"source", "canary-shm/" + segment + "@" + host_name()},
            {"severity", e.kind == EventKind::rolled_back    ? "critical"
                         : e.kind == EventKind::inconclusive || e.kind == EventKind::srm_detected ? "warning"
                                                             : "info"},
            {"component", "canary-shm"},
            {"group", segment},
            {"class", std::string(to_string(e.kind))},
            {"custom_details", report::event_json(e)}}}};
}

WebhookSender::WebhookSender(const Policy& policy, std::string segment, FailureCounter& failures)
    : hooks_(policy.webhooks),
      timeout_ms_(policy.webhook_timeout_ms),
      retries_(policy.webhook_retries),
      segment_(std::move(segment)),
      failures_(failures) {
  thread_ = std::thread([this] { run(); });
}

void WebhookSender::set_policy(const Policy& policy) {
  std::lock_guard lock(mutex_);
  hooks_ = policy.webhooks;
  timeout_ms_ = policy.webhook_timeout_ms;
  retries_ = policy.webhook_retries;
}

void WebhookSender::give_up(const Delivery& d, const std::string& why) {
  failures_.record(why);
  log(LogLevel::error, "webhook delivery failed",
      {{"segment", segment_}, {"url", d.hook.url}, {"event_seq", d.event_seq}, {"error", why}});
}

WebhookSender::~WebhookSender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    stop_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::send(const Event& e) {
  std::vector<Delivery> dropped;
  {
    std::lock_guard lock(mutex_);
    for (const WebhookPolicy& hook : hooks_) {
      if (!hook.wants(e.kind)) continue;
      const nlohmann::json body = hook.kind == WebhookPolicy::Kind::slack ? slack_body(e, segment_)
                                                                         : pagerduty_body(e, segment_, hook.routing_key);
      Delivery d{hook, body.dump(), e.seq};
      if (queue_.size() >= kMaxQueued) {
        ++failed_;
        dropped.push_back(std::move(d));
        continue;
      }
      queue_.push_back(std::move(d));
    }
  }
  wake_.notify_one();
  for (const Delivery& d : dropped) give_up(d, "dropped: " + std::to_string(kMaxQueued) + " deliveries already wait");
}

std::uint64_t WebhookSender::delivered() const {
  std::lock_guard lock(mutex_);
  return delivered_;
}

std::uint64_t WebhookSender::failed() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

Status WebhookSender::post(const WebhookPolicy& hook, const std::string& body, std::uint64_t timeout_ms) const {
  http::ClientRequest request;
  request.method = "POST";
  request.url = hook.url;
  request.body = body;
  request.timeout = std::chrono::milliseconds(timeout_ms);
  auto answer = http::fetch(request);
  if (!answer) return answer.status();
  if (answer->status < 200 || answer->status >= 300)
    return {Errc::refused, hook.url + " answered " + std::to_string(answer->status)};
  return Status::Ok();
}

void WebhookSender::run() {
  while (true) {
    Delivery d;
    std::uint64_t timeout_ms = 0;
    std::uint32_t retries = 0;
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      d = std::move(queue_.front());
      queue_.pop_front();
      timeout_ms = timeout_ms_;
      retries = retries_;
      stopping = stopping_;
    }
    // Stopping (SIGTERM): one short attempt each, within the exit budget; what does not fit is
    // given up, and said so, rather than holding the exit for minutes.
    if (stopping) {
      if (std::chrono::steady_clock::now() >= stop_deadline_) {
        give_up(d, "not sent: the aggregator was stopping");
        continue;
      }
      timeout_ms = std::min<std::uint64_t>(timeout_ms, 500);
      retries = 0;
    }
    Status last;
    for (std::uint32_t attempt = 0; attempt <= retries; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(250) * (1 << (attempt - 1)));
      last = post(d.hook, d.body, timeout_ms);
      if (last.ok()) break;
    }
    if (!last.ok()) give_up(d, last.message() + " (after " + std::to_string(retries + 1) + " attempts)");
    std::lock_guard lock(mutex_);
    ++(last.ok() ? delivered_ : failed_);
  }
}

}  // namespace canary::tools
