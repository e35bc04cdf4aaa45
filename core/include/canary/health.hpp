// SPDX-License-Identifier: Apache-2.0
// Failures the aggregator survives, counted so that none is silent: each kind keeps how many times
// it happened, when it last did and what the error said. /metrics exports the totals, /status the
// rest, and every failure is also a log line.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace canary {

class FailureCounter {
 public:
  struct View {
    std::uint64_t total = 0;
    std::uint64_t last_unix_ns = 0;  // 0: never
    std::string last_error;
  };

  void record(std::string error);
  View view() const;

 private:
  mutable std::mutex mutex_;
  View view_;
};

struct AggregatorHealth {
  FailureCounter checkpoint;   // canary_checkpoint_failures_total
  FailureCounter journal;      // canary_journal_failures_total: the per-interval sample journal
  FailureCounter event_write;  // canary_event_write_failures_total: the events.jsonl file
  FailureCounter webhook;      // canary_webhook_failures_total: gave up after the retries, or queue full
  // Events the segment's log overwrote before the aggregator read them (canary_events_lost_total).
  std::atomic<std::uint64_t> events_lost{0};
  std::atomic<std::uint64_t> last_checkpoint_unix_ns{0};  // the last checkpoint written
};

}  // namespace canary
