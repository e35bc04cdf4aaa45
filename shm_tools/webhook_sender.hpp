// Webhooks for deployment events: a Slack-style {"text": ...} body or a PagerDuty Events v2 body,
// posted from a thread of their own with a timeout and retries, so the aggregator's loop only
// queues them. A full queue (1,000 events) drops the newest and counts it.
#pragma once

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

namespace canary::tools {

// The bodies, exposed for tests.
nlohmann::json slack_body(const Event& e, const std::string& segment);
nlohmann::json pagerduty_body(const Event& e, const std::string& segment, const std::string& routing_key);

class WebhookSender {
 public:
  WebhookSender(const Policy& policy, std::string segment);
  ~WebhookSender();  // sends what is queued (within the timeouts), then stops
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  void send(const Event& e);

  std::uint64_t delivered() const;
  std::uint64_t failed() const;  // gave up after the retries, or dropped from a full queue

 private:
  struct Delivery {
    std::size_t hook;
    std::string body;
  };
  void run();
  bool post(const WebhookPolicy& hook, const std::string& body) const;

  std::vector<WebhookPolicy> hooks_;
  std::uint64_t timeout_ms_;
  std::uint32_t retries_;
  std::string segment_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Delivery> queue_;
  bool stopping_ = false;
  std::uint64_t delivered_ = 0, failed_ = 0;
  std::thread thread_;
};

}  // namespace canary::tools
