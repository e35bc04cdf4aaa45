// SPDX-License-Identifier: Apache-2.0
// The writer's slow paths: attaching, binding a thread, claiming a thread's ring, and the
// bookkeeping that lets fork() and thread exit hand rings back.
#include "canary/writer.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "canary/segment.hpp"

namespace canary {
namespace detail {
namespace {

// Segments stay mapped for the life of the process: another thread may still be inside a record()
// on the old mapping when attach() replaces it.
// Never destroyed: the watcher thread is detached and may still look at them while the process
// runs its exit handlers.
std::mutex g_attach_mutex;
auto& g_segments = *new std::vector<std::unique_ptr<Segment>>;
std::uint64_t g_last_epoch = 0;
std::atomic<bool> g_warned{false};
auto& g_segment_name = *new std::string;  // what attach() was asked for: the watcher attaches it again

// The watcher: a thread of its own that, once a second, attaches when the process is not attached
// (it started before the segment existed) and re-attaches when the segment's name refers to
// another file (init --force, a migration). Off the request path: route() and record() only see
// a new epoch and rebind. One per process; a forked child starts its own (on its first call).
std::atomic<pid_t> g_watcher_pid{0};
// Set by attach(). The watcher starts on a thread's first bind, not in attach(): the master of a
// pre-forked pool attaches and forks but never routes, so it forks with no thread of ours.
std::atomic<bool> g_watch_requested{false};

bool attach_locked(const std::string& name, bool quiet);

void watch_segment() {
  while (true) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::lock_guard lock(g_attach_mutex);
    const bool attached_now = g_process.attached.load(std::memory_order_relaxed) && !g_segments.empty();
    if (!attached_now) {
      if (attach_locked(g_segment_name, /*quiet=*/true))
        std::fprintf(stderr, "canary-shm: segment '%s' is there now: attached\n", g_segment_name.c_str());
      continue;
    }
    const Status named = g_segments.back()->check_still_named();
    // Removed: keep what we have until a new one appears (routing goes on unchanged).
    if (named.code() == Errc::refused && attach_locked(g_segment_name, /*quiet=*/true))
      std::fprintf(stderr, "canary-shm: segment '%s' was re-created: attached to the new one\n", g_segment_name.c_str());
  }
}

void start_watcher_once() {
  const pid_t me = getpid();
  pid_t running = g_watcher_pid.load(std::memory_order_relaxed);
  if (running == me || !g_watcher_pid.compare_exchange_strong(running, me)) return;
  std::thread(watch_segment).detach();
}

// Every descriptor that holds a ring lock in this process. A forked child closes its copies of
// them, or the parent's rings would look alive for as long as the child lives.
std::mutex g_lease_mutex;
std::vector<int> g_lease_fds;

void forget_lease_fd(int fd) {
  std::lock_guard lock(g_lease_mutex);
  std::erase(g_lease_fds, fd);
}

// The descriptor whose lock makes this thread the owner of its ring; closed when the thread ends.
struct ThreadLease {
  int fd = -1;
  ~ThreadLease() { release(); }
  void release() {
    if (fd < 0) return;
    // A thread that ends (or rebinds) is not a crash: its in-flight marks go with it. Only a
    // process that dies leaves marks for the consumer to count.
    if (t_writer.ring != nullptr)
      for (auto& by_endpoint : t_writer.ring->in_flight)
        for (auto& mark : by_endpoint) mark.store(0, std::memory_order_relaxed);  // relaxed: ours alone
    forget_lease_fd(fd);
    close(fd);  // releases the ring's lock: the consumer drains and frees the ring
    fd = -1;
  }
};
thread_local ThreadLease t_lease;

// The watcher may hold the attach lock at the moment of a fork: hold both locks across it, so the
// child never inherits one held by a thread it does not have.
void before_fork() {
  g_attach_mutex.lock();
  g_lease_mutex.lock();
}
void after_fork_in_parent() {
  g_lease_mutex.unlock();
  g_attach_mutex.unlock();
}
void after_fork_in_child() {
  for (int fd : g_lease_fds) close(fd);
  g_lease_fds.clear();
  g_lease_mutex.unlock();
  g_attach_mutex.unlock();
  // The child has no watcher: a new epoch (same mapping) makes every thread rebind on its next
  // call, and the first to do so starts the child's own watcher.
  if (g_watch_requested.load(std::memory_order_relaxed)) g_process.epoch.store(++g_last_epoch, std::memory_order_release);
  t_lease.fd = -1;
  // The child's only thread starts without a ring and claims its own on its first record.
  t_writer.ring = nullptr;
  t_writer.claim_backoff = 0;
}

// A new open file description of the segment's file: a lock taken through it belongs to this
// thread alone. /proc/self/fd reopens the very file we mapped; without /proc, reopen by name and
// check it is still the same file.
int open_lease_fd(const Segment& segment) {
  const std::string self = "/proc/self/fd/" + std::to_string(segment.fd());
  int fd = open(self.c_str(), O_RDWR | O_CLOEXEC);
  if (fd >= 0) return fd;
  fd = shm_open(("/" + segment.name()).c_str(), O_RDWR | O_CLOEXEC, 0);
  struct stat ours {}, theirs {};
  if (fd >= 0 && fstat(fd, &theirs) == 0 && fstat(segment.fd(), &ours) == 0 && ours.st_ino == theirs.st_ino &&
      ours.st_dev == theirs.st_dev)
    return fd;
  if (fd >= 0) close(fd);
  return -1;
}

void count_no_ring_drop(bool count) {
  if (count) g_process.rings.header().no_ring_drops.fetch_add(1, std::memory_order_relaxed);
}

constexpr std::uint32_t kClaimBackoffRecords = 65535;

}  // namespace

void bind_thread(ThreadWriter& t, std::uint64_t epoch) noexcept {
  if (g_watch_requested.load(std::memory_order_relaxed)) start_watcher_once();  // once per process
  t_lease.release();
  t.ring = nullptr;
  t.claim_backoff = 0;
  // relaxed: ordered by the acquire load of the epoch that brought us here.
  t.recording = epoch != 0 && g_process.attached.load(std::memory_order_relaxed);
  t.router.bind(t.recording ? g_process.config : nullptr, g_process.offsets.endpoint_capacity, g_process.heartbeat_unix_ns);
  t.use_rseq = t.recording && g_process.rseq_allowed && rseq_registered();
  t.epoch = epoch;
}

bool claim_thread_ring(ThreadWriter& t, bool count_drop) noexcept {
  if (t.claim_backoff > 0) {
    --t.claim_backoff;
    count_no_ring_drop(count_drop);
    return false;
  }
  t.claim_backoff = kClaimBackoffRecords;  // unless the claim below succeeds
  if (t_lease.fd < 0) {
    const Segment* segment = nullptr;
    {
      std::lock_guard lock(g_attach_mutex);
      if (!g_segments.empty()) segment = g_segments.back().get();
    }
    if (segment == nullptr) return false;
    std::lock_guard lock(g_lease_mutex);
    t_lease.fd = open_lease_fd(*segment);
    if (t_lease.fd < 0) {
      count_no_ring_drop(count_drop);
      return false;
    }
    g_lease_fds.push_back(t_lease.fd);
  }
  const RingsView& rings = g_process.rings;
  const int index = claim_ring(rings, t_lease.fd, getpid());
  if (index < 0) {
    count_no_ring_drop(count_drop);
    return false;
  }
  const auto i = static_cast<std::uint32_t>(index);
  t.ring = &rings.control(i);
  t.slots = rings.slots(i);
  t.mask = rings.records - 1;
  t.head = t.ring->head.load(std::memory_order_relaxed);
  t.tail_seen = t.ring->tail.load(std::memory_order_acquire);
  t.claim_backoff = 0;
  return true;
}

void experiment_record_lost(ThreadWriter& t, ExperimentId experiment) noexcept {
  if (t.ring == nullptr) {
    // relaxed: a count; other processes add to it too, so it takes an atomic add (a rare path).
    g_process.rings.header().experiment_no_ring_drops[experiment].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // relaxed, and no lock prefix: this producer is the only writer of its ring's counts.
  std::atomic<std::uint64_t>& drops = t.ring->experiment_drops[experiment];
  drops.store(drops.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void experiment_record_invalid() noexcept {
  // relaxed: a count for writer_stats().
  g_process.invalid_experiment_records.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t clamp_latency() noexcept {
  // relaxed: a count, read for display; an atomic add on this rare path, shared by every writer.
  g_process.rings.header().latency_clamped.fetch_add(1, std::memory_order_relaxed);
  return kMaxLatencyUs;
}

std::uint32_t atomic_slab_for_current_cpu() noexcept {
  const int cpu = sched_getcpu();
  const std::uint32_t n = g_process.cpu_slots;
  return cpu >= 0 && static_cast<std::uint32_t>(cpu) < n ? n + static_cast<std::uint32_t>(cpu) : 2 * n;
}

}  // namespace detail

namespace detail {
namespace {

bool attach_locked(const std::string& name, bool quiet) {
  auto segment = Segment::attach(name, Access::read_write);
  if (!segment) {
    if (quiet) return false;
    g_process.attach_failures.fetch_add(1, std::memory_order_relaxed);
    // relaxed, then release: threads that see the new epoch rebind and fail open.
    g_process.attached.store(false, std::memory_order_relaxed);
    g_process.epoch.store(++g_last_epoch, std::memory_order_release);
    if (!g_warned.exchange(true))
      std::fprintf(stderr, "canary-shm: %s; routing everyone legacy and recording nothing until it exists\n",
                   segment.status().message().c_str());
    return false;
  }
  g_segments.push_back(std::make_unique<Segment>(std::move(*segment)));
  const Segment& s = *g_segments.back();
  const SegmentGeometry& g = s.geometry();
  g_process.config = &s.config();
  g_process.slabs = reinterpret_cast<char*>(s.region(RegionId::slabs));
  g_process.slab_stride = g.slab_stride;
  g_process.cpu_slots = g.params.cpu_slots;
  g_process.offsets = SlabOffsets{g.params.endpoint_capacity, g.slab_histograms_offset};
  g_process.rings = RingsView::of(s);
  g_process.coarse_clock_ms = &s.aggregator().coarse_clock_ms;
  g_process.heartbeat_unix_ns = &s.aggregator().heartbeat_unix_ns;
  const char* no_rseq = std::getenv("CANARY_NO_RSEQ");
  g_process.rseq_allowed = !(no_rseq && *no_rseq && *no_rseq != '0');
  g_process.attached.store(true, std::memory_order_relaxed);
  // release: every field above is visible to a thread that sees the new epoch (acquire).
  g_process.epoch.store(++g_last_epoch, std::memory_order_release);
  return true;
}

}  // namespace
}  // namespace detail

bool attach(std::string_view segment_name) noexcept {
  using namespace detail;
  static std::once_flag fork_handlers;
  std::call_once(fork_handlers, [] { pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child); });
  bool ok = false;
  {
    std::lock_guard lock(g_attach_mutex);
    g_segment_name = segment_name.empty() ? default_segment_name() : std::string(segment_name);
    ok = attach_locked(g_segment_name, /*quiet=*/false);
  }
  g_watch_requested.store(true, std::memory_order_relaxed);
  return ok;
}

bool attached() noexcept {
  return detail::g_process.epoch.load(std::memory_order_acquire) != 0 &&
         detail::g_process.attached.load(std::memory_order_relaxed);
}

WriterStats writer_stats() noexcept {
  const detail::ThreadWriter& t = detail::thread_writer();
  WriterStats s;
  s.attach_failures = detail::g_process.attach_failures.load(std::memory_order_relaxed);
  s.in_flight_other_thread = detail::g_process.in_flight_other_thread.load(std::memory_order_relaxed);
  s.invalid_experiment_records = detail::g_process.invalid_experiment_records.load(std::memory_order_relaxed);
  s.attached = t.recording;
  s.rseq = t.use_rseq;
  if (t.ring != nullptr) {
    const RingsView& rings = detail::g_process.rings;
    s.ring = static_cast<int>((reinterpret_cast<const std::byte*>(t.ring) - rings.base - sizeof(RingsHeader)) /
                              static_cast<std::ptrdiff_t>(rings.stride));
    s.ring_full_drops = t.ring->drops.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace canary
