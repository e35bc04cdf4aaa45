// SPDX-License-Identifier: Apache-2.0
// The header a worker includes. Three calls:
//
//   canary::attach();                                           // once, before or after fork()
//   canary::Decision d = canary::route(user_id, request_path);  // per request
//   canary::record(d.endpoint, canary::Method::post, d.user_hash, d.version, status, latency_us);
//
// or, so that a request whose worker dies before it is recorded still counts (as unavailable):
//
//   canary::InFlight request = canary::begin(d);                // marks it in flight
//   canary::record(request, canary::Method::post, status, latency_us);  // takes the mark off
//
// (canary::ScopedRequest does both.) begin() and its record() run on one thread.
//
// route() and record() take no lock, allocate nothing, make no system call and never loop: a
// record is two per-CPU stores (rseq; atomic operations without it) and one ring slot. The exceptions,
// each once per thread and off the per-request path: the first record of a thread claims its ring
// (an open and an fcntl), and a thread that found no free ring tries again every 65,536 records.
//
// A process that cannot attach fails open: it routes everyone legacy, records nothing, says so
// once on stderr and counts it in writer_stats().attach_failures. A process that forks after
// attaching needs no call in the child: the child claims its own ring on its first record.
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "canary/detail/percpu_add.hpp"
#include "canary/histogram.hpp"
#include "canary/layout.hpp"
#include "canary/ring.hpp"
#include "canary/router.hpp"
#include "canary/slab.hpp"
#include "canary/types.hpp"

namespace canary {

// Attaches this process to the segment (empty name: $CANARY_SEGMENT, else "canary"). Returns
// false, and fails open, when it cannot. Attaching again replaces the previous segment.
bool attach(std::string_view segment_name = {}) noexcept;
bool attached() noexcept;

Decision route(std::string_view user_id, EndpointId endpoint) noexcept;
Decision route(std::string_view user_id, std::string_view raw_path) noexcept;
bool is_canary_user(std::string_view user_id) noexcept;
// The endpoint id of a request path or of a template; kOtherEndpoint when none matches.
EndpointId resolve_endpoint(std::string_view path_or_template) noexcept;

// The seed's record_request. latency_us counts fully in the sum; above 60 s it lands in the top
// histogram bucket; above an hour (kMaxLatencyUs) it is recorded as an hour, and counted
// (canary_latency_clamped_total). An endpoint id the segment has no room for is recorded as `other`.
void record(EndpointId endpoint, Method method, std::uint64_t user_hash, Version version,
            std::uint32_t status_code, std::uint64_t latency_us) noexcept;

// A request marked in flight by begin(): a count in this thread's own ring, per (version,
// endpoint), that the record() of the request takes off. A writer found dead with marks left has
// each counted once as status 0 (unavailable) by the aggregator or `canary-ctl reap`.
struct InFlight {
  Decision decision;
  RingControl* ring = nullptr;  // whose mark; null: not marked (not attached, or no ring free)
  std::uint64_t epoch = 0;      // the thread's binding when marked
  std::uint32_t version = 0;
  EndpointId endpoint = 0;
};

InFlight begin(const Decision& decision) noexcept;
// Records the request and takes its in-flight mark off (once; a second call records again
// without a mark). Recorded on another thread than begin()'s, the mark stays until that thread
// ends: counted in writer_stats().in_flight_other_thread.
void record(InFlight& request, Method method, std::uint32_t status_code, std::uint64_t latency_us) noexcept;

struct WriterStats {
  std::uint64_t attach_failures = 0;  // this process
  std::uint64_t in_flight_other_thread = 0;  // this process: requests recorded off their begin() thread
  bool attached = false;
  bool rseq = false;     // this thread adds with restartable sequences
  int ring = -1;         // this thread's ring, -1 if none
  std::uint64_t ring_full_drops = 0;  // this thread's ring
  std::uint64_t invalid_experiment_records = 0;  // this process: out-of-range slots or a non-finite value
};
WriterStats writer_stats() noexcept;

// Marks a request in flight when constructed (begin), times it, and records it when destroyed.
// A status never set counts as 0: no response. A worker that dies in between leaves its mark,
// and the request counts as unavailable.
class ScopedRequest {
 public:
  ScopedRequest(const Decision& decision, Method method) noexcept
      : request_(begin(decision)), method_(method), start_(std::chrono::steady_clock::now()) {}
  ScopedRequest(const ScopedRequest&) = delete;
  ScopedRequest& operator=(const ScopedRequest&) = delete;
  ~ScopedRequest() {
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    record(request_, method_, status_,
           static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()));
  }
  void set_status(std::uint32_t status_code) noexcept { status_ = status_code; }

 private:
  InFlight request_;
  Method method_;
  std::uint32_t status_ = 0;
  std::chrono::steady_clock::time_point start_;
};

namespace detail {

// What attach() found, shared by every thread of the process. Written before `epoch` is stored
// (release); read after `epoch` is loaded (acquire).
struct ProcessWriter {
  std::atomic<std::uint64_t> epoch{0};  // 0: not attached
  const ConfigBlock* config = nullptr;
  char* slabs = nullptr;
  std::uint64_t slab_stride = 0;
  std::uint32_t cpu_slots = 0;
  SlabOffsets offsets{0, 0};
  RingsView rings;
  const std::atomic<std::uint64_t>* coarse_clock_ms = nullptr;
  const std::atomic<std::uint64_t>* heartbeat_unix_ns = nullptr;
  bool rseq_allowed = false;  // $CANARY_NO_RSEQ unset
  // false after a failed attach(): the epoch still moves, so that threads rebind and fail open.
  std::atomic<bool> attached{false};
  std::atomic<std::uint64_t> attach_failures{0};
  std::atomic<std::uint64_t> in_flight_other_thread{0};
  std::atomic<std::uint64_t> invalid_experiment_records{0};
};
inline constinit ProcessWriter g_process;

// Each thread's router and ring. Trivially destructible so that reaching it costs no TLS guard;
// the ring's lock descriptor lives in a separate thread-exit object (writer.cpp).
struct ThreadWriter {
  // What every record touches, together on the first cache line; the 80 KB router after it.
  alignas(kCacheLine) std::uint64_t epoch = 0;  // the process epoch this thread is bound to
  RingControl* ring = nullptr;
  RingRecord* slots = nullptr;
  std::uint64_t mask = 0;
  std::uint64_t head = 0;       // our copy of ring->head
  std::uint64_t tail_seen = 0;  // ring->tail when last read; re-read only when the ring looks full
  std::uint32_t claim_backoff = 0;
  bool use_rseq = false;
  bool recording = false;  // bound to an attached segment; false: fail open, record nothing
  Router router;
};
inline constinit thread_local ThreadWriter t_writer;

void bind_thread(ThreadWriter& t, std::uint64_t epoch) noexcept;
// `count_drop`: a record is lost if this fails (begin() loses nothing but its mark).
bool claim_thread_ring(ThreadWriter& t, bool count_drop = true) noexcept;
// Without rseq: the atomic slab of the CPU this thread runs on, or the overflow slab.
std::uint32_t atomic_slab_for_current_cpu() noexcept;
// Counts a latency above kMaxLatencyUs (out of line: it is rare) and returns kMaxLatencyUs.
std::uint64_t clamp_latency() noexcept;

inline ThreadWriter& thread_writer() noexcept {
  ThreadWriter* thread = &t_writer;
  // An empty asm that "changes" the pointer: the compiler keeps the address in a register instead
  // of computing it again after each call it makes. In libcanary.so every computation is a TLS
  // descriptor call (a few ns); in an executable it is one instruction either way.
  asm("" : "+r"(thread));
  ThreadWriter& t = *thread;
  // acquire: pairs with attach()'s release, so g_process's fields are the ones of this epoch.
  const std::uint64_t epoch = g_process.epoch.load(std::memory_order_acquire);
  if (t.epoch != epoch) [[unlikely]]
    bind_thread(t, epoch);
  return t;
}

inline void atomic_slab_add(const ProcessWriter& p, std::uint32_t slab, std::uint64_t offset,
                            std::uint64_t value) noexcept {
  char* base = p.slabs + slab * p.slab_stride;
  auto* touched = reinterpret_cast<std::uint64_t*>(base);
  // relaxed: the flag only tells readers which slabs to sum; the counts carry no other data.
  if (__atomic_load_n(touched, __ATOMIC_RELAXED) == 0) __atomic_store_n(touched, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(reinterpret_cast<std::uint64_t*>(base + offset), value, __ATOMIC_RELAXED);
}

// `fallback_slab` takes the add when rseq is off for this thread, aborted, or the CPU id is
// outside the slabs: an atomic slab (by CPU, without rseq) or the overflow slab.
inline void slab_add(const ThreadWriter& t, const ProcessWriter& p, std::uint32_t fallback_slab,
                     std::uint64_t offset, std::uint64_t value) noexcept {
  if (t.use_rseq && rseq_slab_add(p.slabs, p.slab_stride, p.cpu_slots, offset, value)) return;
  atomic_slab_add(p, fallback_slab, offset, value);
}

// A record's commit: (count + 1, latency sum + latency) of the CountAndSum pair at `offset`.
inline void slab_add_pair(const ThreadWriter& t, const ProcessWriter& p, std::uint32_t fallback_slab,
                          std::uint64_t offset, std::uint64_t latency_us) noexcept {
  if (t.use_rseq && rseq_slab_add_pair(p.slabs, p.slab_stride, p.cpu_slots, offset, latency_us)) return;
  char* base = p.slabs + fallback_slab * p.slab_stride;
  auto* touched = reinterpret_cast<std::uint64_t*>(base);
  // relaxed: the flag only tells readers which slabs to sum.
  if (__atomic_load_n(touched, __ATOMIC_RELAXED) == 0) __atomic_store_n(touched, 1, __ATOMIC_RELAXED);
  atomic_add_pair(reinterpret_cast<std::uint64_t*>(base + offset), latency_us);
}

// The slot the next record goes to, or nullptr when it is lost: no ring could be claimed
// (counted in no_ring_drops by the claim), or the ring is full (counted in the ring's drops).
inline RingRecord* next_slot(ThreadWriter& t) noexcept {
  if (t.ring == nullptr && !claim_thread_ring(t)) return nullptr;
  if (t.head - t.tail_seen > t.mask) {
    // acquire: the consumer's reads of the slots it released happen before we overwrite them.
    t.tail_seen = t.ring->tail.load(std::memory_order_acquire);
    if (t.head - t.tail_seen > t.mask) {
      // relaxed, and no lock prefix: this producer is the only writer of its drop count.
      t.ring->drops.store(t.ring->drops.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return nullptr;
    }
  }
  return &t.slots[t.head & t.mask];
}

// release: the record's bytes are visible before the consumer (acquire) sees the new head. A
// writer killed before this store leaves a half-written slot that no consumer ever reads.
inline void publish_slot(ThreadWriter& t) noexcept { t.ring->head.store(++t.head, std::memory_order_release); }

// Writes the fields straight into the slot: building a RingRecord on the stack and copying it
// made the copy's 16-byte loads wait on the narrow stores before them (a store-forwarding stall
// that was half the cost of a record).
inline void ring_push(ThreadWriter& t, std::uint64_t user_hash, std::uint64_t coarse_ms, std::uint64_t latency_us,
                      std::uint32_t status_code, EndpointId endpoint, std::uint32_t version, std::uint32_t method) noexcept {
  RingRecord* slot = next_slot(t);
  if (slot == nullptr) return;
  slot->user_hash = user_hash;
  slot->coarse_ms = coarse_ms;
  slot->latency_us = latency_us > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(latency_us);
  slot->status_code = status_code > UINT16_MAX ? UINT16_MAX : static_cast<std::uint16_t>(status_code);
  slot->endpoint_id = endpoint;
  slot->version = static_cast<std::uint8_t>(version);
  slot->method = static_cast<std::uint8_t>(method);
  slot->kind = kRecordRequest;
  publish_slot(t);
}

// An exposure or an outcome event (layout.hpp: RingRecord's experiment kinds). One lost is also
// counted under its experiment, so its results can say how many are missing.
void experiment_record_lost(ThreadWriter& t, ExperimentId experiment) noexcept;
void experiment_record_invalid() noexcept;

inline void experiment_push(std::uint8_t kind, ExperimentId experiment, std::uint8_t arm, std::uint64_t user_hash,
                            std::uint8_t metric, double value) noexcept {
  ThreadWriter& t = thread_writer();
  if (!t.recording) return;  // not attached: fail open
  // A NaN or infinite value would poison every sum after it: refused here, counted.
  if (experiment >= kMaxExperiments || arm >= kMaxArms || metric >= kMaxExperimentMetrics || !(value - value == 0))
      [[unlikely]] {
    experiment_record_invalid();
    return;
  }
  RingRecord* slot = next_slot(t);
  if (slot == nullptr) [[unlikely]] {
    experiment_record_lost(t, experiment);
    return;
  }
  slot->user_hash = user_hash;
  slot->coarse_ms = std::bit_cast<std::uint64_t>(value);
  slot->latency_us = 0;
  slot->status_code = 0;
  slot->endpoint_id = metric;
  slot->version = experiment;
  slot->method = arm;
  slot->kind = kind;
  publish_slot(t);
}

}  // namespace detail

inline Decision route(std::string_view user_id, EndpointId endpoint) noexcept {
  return detail::thread_writer().router.route(user_id, endpoint);
}

inline Decision route(std::string_view user_id, std::string_view raw_path) noexcept {
  return detail::thread_writer().router.route(user_id, raw_path);
}

inline bool is_canary_user(std::string_view user_id) noexcept {
  return detail::thread_writer().router.is_canary_user(user_id);
}

// The name of a version index in this thread's compiled config ("legacy", "canary", ...); empty
// when not attached or out of range.
inline std::string_view version_name(Version version) noexcept {
  return detail::thread_writer().router.version_name(version);
}

// The index of a version by name ("legacy", "canary", "canary2", ...), as this thread's compiled
// config has it; nullopt when unknown or not attached.
inline std::optional<Version> find_version(std::string_view name) noexcept {
  return detail::thread_writer().router.find_version(name);
}

inline EndpointId resolve_endpoint(std::string_view path_or_template) noexcept {
  return detail::thread_writer().router.resolve(path_or_template);
}

namespace detail {

// A version outside the table's slots counts as the baseline (a caller's bad value stays in bounds).
inline std::uint32_t version_index(Version version) noexcept {
  const auto v = static_cast<std::uint32_t>(version);
  return v < kMaxVersions ? v : kBaseline;
}

inline EndpointId recordable_endpoint(const ProcessWriter& p, EndpointId endpoint) noexcept {
  return endpoint < p.offsets.endpoint_capacity ? endpoint : kOtherEndpoint;
}

}  // namespace detail

inline InFlight begin(const Decision& decision) noexcept {
  InFlight request{decision};
  detail::ThreadWriter& t = detail::thread_writer();
  if (!t.recording) return request;
  if (t.ring == nullptr && (t.claim_backoff > 0 || !detail::claim_thread_ring(t, /*count_drop=*/false))) return request;
  request.version = detail::version_index(decision.version);
  request.endpoint = detail::recordable_endpoint(detail::g_process, decision.endpoint);
  std::atomic<std::uint32_t>& mark = t.ring->in_flight[request.version][request.endpoint];
  // relaxed, and no lock prefix: this thread is the only writer of its ring's marks, and the
  // consumer reads them only once this process is dead.
  mark.store(mark.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  request.ring = t.ring;
  request.epoch = t.epoch;
  return request;
}

inline void record(EndpointId endpoint, Method method, std::uint64_t user_hash, Version version,
                   std::uint32_t status_code, std::uint64_t latency_us) noexcept {
  detail::ThreadWriter& t = detail::thread_writer();
  if (!t.recording) return;  // not attached: fail open
  const detail::ProcessWriter& p = detail::g_process;
  if (latency_us > kMaxLatencyUs) [[unlikely]]
    latency_us = detail::clamp_latency();
  endpoint = detail::recordable_endpoint(p, endpoint);
  const std::uint32_t v = detail::version_index(version);
  const auto m = static_cast<std::uint32_t>(method) < kMethodCount ? static_cast<std::uint32_t>(method)
                                                                   : static_cast<std::uint32_t>(Method::other);
  const std::uint32_t fallback_slab = t.use_rseq ? 2 * p.cpu_slots : detail::atomic_slab_for_current_cpu();
  const std::uint64_t pair = p.offsets.pair(v, endpoint);

  // Two stores. The histogram entry first; then the commit, one 16-byte store of the count (by
  // method and class) and the latency sum, from which totals, errors and "unavailable" derive. A
  // writer killed between them leaves a histogram entry without a count, which readers cut back
  // (sum_slabs), never a request counted without its latency or its histogram entry.
  detail::slab_add(t, p, fallback_slab, p.offsets.bucket(pair, histogram_bucket(latency_us)), 1);
  detail::slab_add_pair(t, p, fallback_slab, p.offsets.requests(pair, m, slab_class(status_code)), latency_us);

  // relaxed: a coarse timestamp; nothing is read through it.
  detail::ring_push(t, user_hash, p.coarse_clock_ms->load(std::memory_order_relaxed), latency_us, status_code, endpoint,
                    v, m);
}

inline void record(InFlight& request, Method method, std::uint32_t status_code, std::uint64_t latency_us) noexcept {
  const Decision& d = request.decision;
  record(d.endpoint, method, d.user_hash, d.version, status_code, latency_us);
  if (request.ring == nullptr) return;
  const detail::ThreadWriter& t = detail::t_writer;  // bound by the record() above
  if (request.ring == t.ring && request.epoch == t.epoch) {
    std::atomic<std::uint32_t>& mark = t.ring->in_flight[request.version][request.endpoint];
    const std::uint32_t n = mark.load(std::memory_order_relaxed);
    if (n > 0) mark.store(n - 1, std::memory_order_relaxed);  // relaxed: as in begin()
  } else if (request.epoch == t.epoch) {
    // Another thread's mark: only its owner may write it. It stays until that thread ends.
    detail::g_process.in_flight_other_thread.fetch_add(1, std::memory_order_relaxed);
  }
  // A new epoch since begin(): the old ring was released, its marks zeroed with it.
  request.ring = nullptr;
}

// ---------------------------------------------------------------------------------------------
// A/B experiments (SPEC section 10a, docs/experiments.md). A user's arm:
//
//   canary::Assignment a = canary::arm(experiment, user_id);   // deterministic, per experiment salt
//   if (a.in_experiment) canary::expose(a);                      // the request used the assignment
//   ...
//   canary::record_event(a, clicks, 1.0);                        // an outcome, any time later
//
// Experiments and metrics are slots of the config; find_experiment() and find_metric() resolve
// their names once. A user outside a running experiment gets arm 0 (control; a concluded one's
// chosen arm) and in_experiment false: nothing to expose or record.

inline std::optional<ExperimentId> find_experiment(std::string_view name) noexcept {
  return detail::thread_writer().router.experiments().find(name);
}
inline std::optional<std::uint8_t> find_metric(ExperimentId experiment, std::string_view metric) noexcept {
  return detail::thread_writer().router.experiments().find_metric(experiment, metric);
}
inline std::string_view experiment_name(ExperimentId experiment) noexcept {
  return detail::thread_writer().router.experiments().name(experiment);
}
inline std::string_view arm_name(ExperimentId experiment, std::uint8_t arm) noexcept {
  return detail::thread_writer().router.experiments().arm_name(experiment, arm);
}

inline Assignment arm(ExperimentId experiment, std::string_view user_id) noexcept {
  return detail::thread_writer().router.assign(experiment, user_id);
}
// By name: a lookup over at most kMaxExperiments names first; resolve it once where it matters.
inline Assignment arm(std::string_view experiment, std::string_view user_id) noexcept {
  const auto id = find_experiment(experiment);
  return id ? arm(*id, user_id) : Assignment{};
}

inline void expose(ExperimentId experiment, std::uint8_t arm, std::uint64_t user_hash) noexcept {
  detail::experiment_push(kRecordExposure, experiment, arm, user_hash, 0, 1.0);
}
inline void expose(const Assignment& a) noexcept {
  if (a.in_experiment) expose(a.experiment, a.arm, a.user_hash);
}

// conversion: the user converted (counted once per user); sum: adds `value` to the user's total;
// count: one more event (value ignored).
inline void record_event(ExperimentId experiment, std::uint8_t arm, std::uint64_t user_hash, std::uint8_t metric,
                         double value) noexcept {
  detail::experiment_push(kRecordEvent, experiment, arm, user_hash, metric, value);
}
inline void record_event(const Assignment& a, std::uint8_t metric, double value = 1.0) noexcept {
  if (a.in_experiment) record_event(a.experiment, a.arm, a.user_hash, metric, value);
}

}  // namespace canary
