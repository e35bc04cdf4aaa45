// SPDX-License-Identifier: Apache-2.0
// Webhooks for deployment events: a Slack-style {"text": ...} body or a PagerDuty Events v2 body,
// posted from a thread of their own with a timeout and retries, so the aggregator's loop only
// queues them. A delivery given up after its retries, or dropped from a full queue (1,000
// events), is logged and counted in `failures` (canary_webhook_failures_total).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "canary/decision/policy.hpp"
#include "canary/events.hpp"
#include "canary/health.hpp"

namespace canary::tools {

// The bodies, exposed for tests.
nlohmann::json slack_body(const Event& e, const std::string& segment);
nlohmann::json pagerduty_body(const Event& e, const std::string& segment, const std::string& routing_key);

class WebhookSender {
 public:
  WebhookSender(const Policy& policy, std::string segment, FailureCounter& failures);
  // The hooks, timeout and retries of a reloaded policy, for the events sent from now on.
  void set_policy(const Policy& policy);
  ~WebhookSender();  // sends what is queued within a second, gives up (and counts) the rest, then stops
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  void send(const Event& e);

  std::uint64_t delivered() const;
  std::uint64_t failed() const;  // gave up after the retries, or dropped from a full queue

 private:
  struct Delivery {
    WebhookPolicy hook;
    std::string body;
    std::uint64_t event_seq;
  };
  void run();
  Status post(const WebhookPolicy& hook, const std::string& body, std::uint64_t timeout_ms) const;
  void give_up(const Delivery& d, const std::string& why);

  std::vector<WebhookPolicy> hooks_;
  std::uint64_t timeout_ms_;
  std::uint32_t retries_;
  std::string segment_;
  FailureCounter& failures_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Delivery> queue_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_;
  std::uint64_t delivered_ = 0, failed_ = 0;
  std::thread thread_;
};

}  // namespace canary::tools
