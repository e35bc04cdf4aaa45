#include "webhook_sender.hpp"

#include <unistd.h>

#include <httplib.h>

#include <chrono>

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
            {"severity", e.kind == EventKind::rolled_back ? "critical" : "info"},
            {"component", "canary-shm"},
            {"group", segment},
            {"class", std::string(to_string(e.kind))},
            {"custom_details", report::event_json(e)}}}};
}

WebhookSender::WebhookSender(const Policy& policy, std::string segment)
    : hooks_(policy.webhooks),
      timeout_ms_(policy.webhook_timeout_ms),
      retries_(policy.webhook_retries),
      segment_(std::move(segment)) {
  if (!hooks_.empty()) thread_ = std::thread([this] { run(); });
}

WebhookSender::~WebhookSender() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::send(const Event& e) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < hooks_.size(); ++i) {
    const WebhookPolicy& hook = hooks_[i];
    if (!hook.wants(e.kind)) continue;
    if (queue_.size() >= kMaxQueued) {
      ++failed_;
      continue;
    }
    const nlohmann::json body = hook.kind == WebhookPolicy::Kind::slack ? slack_body(e, segment_)
                                                                       : pagerduty_body(e, segment_, hook.routing_key);
    queue_.push_back({i, body.dump()});
  }
  wake_.notify_one();
}

std::uint64_t WebhookSender::delivered() const {
  std::lock_guard lock(mutex_);
  return delivered_;
}

std::uint64_t WebhookSender::failed() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

bool WebhookSender::post(const WebhookPolicy& hook, const std::string& body) const {
  // "https://host:port/path": httplib's client takes the scheme, host and port; the path apart.
  const auto scheme_end = hook.url.find("://");
  const auto path_start = hook.url.find('/', scheme_end + 3);
  const std::string origin = hook.url.substr(0, path_start);
  const std::string path = path_start == std::string::npos ? "/" : hook.url.substr(path_start);
  httplib::Client client(origin);
  const auto timeout = std::chrono::milliseconds(timeout_ms_);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  auto result = client.Post(path, body, "application/json");
  return result && result->status >= 200 && result->status < 300;
}

void WebhookSender::run() {
  while (true) {
    Delivery d;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      d = std::move(queue_.front());
      queue_.pop_front();
    }
    bool ok = false;
    for (std::uint32_t attempt = 0; attempt <= retries_ && !ok; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(250) * (1 << (attempt - 1)));
      ok = post(hooks_[d.hook], d.body);
    }
    std::lock_guard lock(mutex_);
    ++(ok ? delivered_ : failed_);
  }
}

}  // namespace canary::tools
