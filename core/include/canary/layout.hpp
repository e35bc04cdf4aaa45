// SPDX-License-Identifier: Apache-2.0
// The shared-memory segment's ABI. Every struct here lives in memory that processes built at
// different times map at the same time, so each is fixed-size, 8-byte aligned at least, and pinned
// with static_asserts on its size and field offsets. docs/segment-layout.md draws the same picture;
// change one, change the other, and bump kLayoutVersion.
//
// Only the header's first 16 bytes (magic, layout version) are promised to every future layout, so
// that any build can tell "another version" from "not ours".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "canary/types.hpp"

namespace canary {

inline constexpr std::uint64_t kSegmentMagic = 0x4853595241'4E4143ull;  // "CANARYSH", little-endian
// 7: up to 8 versions; 8: A/B experiments; 9: the creator's flags, an experiment's drops at its
// start, clamped latencies, and what the aggregator drained of each experiment
inline constexpr std::uint32_t kLayoutVersion = 9;

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kPageSize = 4096;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint64_t>) == 8);

// ---------------------------------------------------------------------------------------------
// Header (page 0)

enum class RegionId : std::uint32_t { config = 0, slabs, rings, aggregator, events };
inline constexpr std::uint32_t kRegionCount = 5;
inline constexpr std::uint32_t kRegionSlots = 8;  // room for regions a later layout adds

struct RegionEntry {
  std::uint64_t offset;
  std::uint64_t size;
};

struct SegmentHeader {
  // Zero until the creator has written everything else; then kSegmentMagic, stored with release so
  // that a reader that loads it with acquire sees a complete segment (Aeron's cnc version word).
  std::atomic<std::uint64_t> magic;
  std::uint32_t layout_version;
  std::uint32_t header_size;
  std::uint64_t total_size;
  std::uint64_t created_unix_ns;
  std::uint32_t creator_pid;
  std::uint32_t cpu_slots;          // possible CPUs the per-CPU slabs cover
  std::uint32_t endpoint_capacity;  // endpoint ids the slabs have room for, `other` included
  std::uint32_t ring_count;
  std::uint32_t ring_records;       // records per ring, a power of two
  std::uint32_t histogram_buckets;  // kHistogramBuckets of the build that created it
  std::uint32_t ring_record_size;   // sizeof(RingRecord)
  std::uint32_t region_count;
  RegionEntry regions[kRegionSlots];
  std::uint32_t flags;  // kSegmentFlag*, set by the creator
  std::uint32_t reserved0;
  std::uint8_t reserved[kPageSize - 200];
};
static_assert(sizeof(SegmentHeader) == kPageSize);
// The creator allowed every local user to write it (`init --allow-world-writable`): only then is a
// segment whose mode lets others write attached at all.
inline constexpr std::uint32_t kSegmentFlagWorldWritable = 1;
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(offsetof(SegmentHeader, layout_version) == 8);
static_assert(offsetof(SegmentHeader, header_size) == 12);
static_assert(offsetof(SegmentHeader, total_size) == 16);
static_assert(offsetof(SegmentHeader, created_unix_ns) == 24);
static_assert(offsetof(SegmentHeader, creator_pid) == 32);
static_assert(offsetof(SegmentHeader, cpu_slots) == 36);
static_assert(offsetof(SegmentHeader, endpoint_capacity) == 40);
static_assert(offsetof(SegmentHeader, ring_count) == 44);
static_assert(offsetof(SegmentHeader, ring_records) == 48);
static_assert(offsetof(SegmentHeader, histogram_buckets) == 52);
static_assert(offsetof(SegmentHeader, ring_record_size) == 56);
static_assert(offsetof(SegmentHeader, region_count) == 60);
static_assert(offsetof(SegmentHeader, regions) == 64);
static_assert(offsetof(SegmentHeader, flags) == 192);

// Byte offsets of the kernel-released locks taken on the segment's file (open file description
// locks, F_OFD_SETLK). They lock bytes of the file, not memory: the data there is never touched.
inline constexpr std::int64_t kConfigLockByte = 0;      // serializes config writers
inline constexpr std::int64_t kAggregatorLockByte = 1;  // held by the one live aggregator
inline constexpr std::int64_t kRingLockBase = 4096;     // + ring index: held by the ring's owner

// ---------------------------------------------------------------------------------------------
// Config region: two complete copies and a published generation (LMDB's two meta pages).
// A writer, holding kConfigLockByte, fills the copy the published generation does not point at
// (seq odd while it writes), then publishes generation + 1. Readers take the published copy and
// check its seq and checksum; a writer killed at any instruction leaves the published copy intact.

inline constexpr std::uint32_t kMaxEndpoints = 128;  // registry slots, `other` (id 0) included
inline constexpr std::uint32_t kMaxTemplateBytes = 200;
inline constexpr std::uint32_t kMaxTemplateSegments = 32;
inline constexpr std::uint32_t kMaxOverrides = 64;
inline constexpr std::uint32_t kMaxUserIdBytes = 1024;
inline constexpr std::uint32_t kMaxShareBp = 10000;
inline constexpr std::uint32_t kMaxRampSteps = 16;

struct EndpointEntry {
  char path[224];  // the template, NUL-padded
  std::uint32_t path_len;
  std::uint8_t registered;
  std::uint8_t reserved_flag;  // 0 (layout 6's canary flag: now per version, VersionEntry::endpoints_on)
  std::uint16_t reserved0;
  std::uint64_t reserved[3];
};
static_assert(sizeof(EndpointEntry) == 256);
static_assert(offsetof(EndpointEntry, path_len) == 224);
static_assert(offsetof(EndpointEntry, registered) == 228);
static_assert(sizeof(EndpointEntry::path) > kMaxTemplateBytes);

// A pinned user. The id itself can be 1 KiB, so the table keeps its 128-bit XXH3 (what routing
// compares) and a prefix for people to read.
struct OverrideEntry {
  std::uint64_t id_hash_low;
  std::uint64_t id_hash_high;
  std::uint32_t id_len;
  std::uint8_t version;  // index into ConfigData::versions
  std::uint8_t reserved[3];
  char id_prefix[40];
};
static_assert(sizeof(OverrideEntry) == 64);
static_assert(offsetof(OverrideEntry, id_len) == 16);
static_assert(offsetof(OverrideEntry, version) == 20);
static_assert(offsetof(OverrideEntry, id_prefix) == 24);

// One version of the deployment. Slot 0 is the first baseline and slots 1..7 candidates; after a
// promotion a `start` may make the promoted version the baseline (ConfigData::baseline). A slot keeps
// its index (the one slabs, rings and windows count under) for the life of the segment: a removed
// version is retired, not freed, so its counts never pass to another name; adding it again revives
// the same slot.
inline constexpr std::uint32_t kMaxVersionNameBytes = 31;
inline constexpr std::uint8_t kSlotFree = 0;
inline constexpr std::uint8_t kSlotActive = 1;
inline constexpr std::uint8_t kSlotRetired = 2;

struct VersionEntry {
  char name[32];                       // [a-z0-9._-], 1-31 bytes, NUL-padded; empty while free
  std::uint64_t step_started_unix_ns;  // when its share last changed: its gate's data starts here
  std::uint64_t started_unix_ns;       // its last `start`
  std::uint64_t endpoints_on[2];       // bit e: endpoint e may route to it (candidates only)
  std::uint32_t share_bp;              // buckets it owns in bucket_owner (the baseline: 0, it has the rest)
  std::uint32_t ramp_step;             // index in ramp_bp of its current step
  std::uint8_t slot;                   // kSlotFree, kSlotActive, kSlotRetired
  std::uint8_t state;                  // DeploymentState (the baseline: always running)
  std::uint8_t awaiting_approval;      // its next ramp step is 100%, waiting for `approve`
  std::uint8_t srm_detected;           // the sample-ratio test failed for it: its ramp and promotion wait
  std::uint8_t reserved0[4];
  char state_reason[192];
};
static_assert(sizeof(VersionEntry) == 272);
static_assert(offsetof(VersionEntry, step_started_unix_ns) == 32);
static_assert(offsetof(VersionEntry, started_unix_ns) == 40);
static_assert(offsetof(VersionEntry, endpoints_on) == 48);
static_assert(offsetof(VersionEntry, share_bp) == 64);
static_assert(offsetof(VersionEntry, ramp_step) == 68);
static_assert(offsetof(VersionEntry, slot) == 72);
static_assert(offsetof(VersionEntry, state) == 73);
static_assert(offsetof(VersionEntry, awaiting_approval) == 74);
static_assert(offsetof(VersionEntry, srm_detected) == 75);
static_assert(offsetof(VersionEntry, state_reason) == 80);
static_assert(kMaxEndpoints <= 128, "endpoints_on holds 128 bits");

// One A/B experiment (SPEC section 10a). Arms are assigned by user with the experiment's own salt,
// so an arm is independent of the user's version and of their arms in other experiments. A slot
// keeps its experiment for the life of the segment (created_unix_ns tells a new one from an old).
inline constexpr std::uint32_t kMaxExperiments = 8;
inline constexpr std::uint32_t kMaxArms = 8;
inline constexpr std::uint32_t kMaxExperimentMetrics = 4;
inline constexpr std::uint8_t kArmNoVersion = 0xFF;  // a plain flag: the arm routes nowhere

struct ArmEntry {
  char name[32];  // as a version name
  std::uint16_t share_bp;  // of the experiment's users; the arms' shares sum to 10000
  std::uint8_t version;    // a version index the arm routes to, or kArmNoVersion
  std::uint8_t reserved[5];
};
static_assert(sizeof(ArmEntry) == 40);
static_assert(offsetof(ArmEntry, share_bp) == 32);
static_assert(offsetof(ArmEntry, version) == 34);

struct MetricEntry {
  char name[32];
  std::uint8_t kind;  // MetricKind
  std::uint8_t reserved[7];
};
static_assert(sizeof(MetricEntry) == 40);

struct ExperimentEntry {
  char name[32];  // empty while the slot is free
  std::uint64_t salt;
  std::uint64_t created_unix_ns;
  std::uint64_t started_unix_ns;  // the last `start`; 0: never started
  std::uint64_t ended_unix_ns;    // the last `stop` or `conclude`
  std::uint64_t endpoints_on[2];  // bit e: a version-bound arm routes on endpoint e; none set: every endpoint
  std::uint16_t exposure_bp;      // the share of users in the experiment at all
  std::uint8_t state;             // ExperimentState
  std::uint8_t arm_count;         // 2..kMaxArms; arms[0] is control
  std::uint8_t metric_count;      // 0..kMaxExperimentMetrics
  std::uint8_t concluded_arm;     // concluded: the arm every user gets
  std::uint8_t reserved0[2];
  ArmEntry arms[kMaxArms];
  MetricEntry metrics[kMaxExperimentMetrics];
  char reason[112];  // why it is in its state, for people
  // The segment's count of this slot's lost records (ring full, no ring) at the experiment's first
  // `start`, written by whoever started it: its drops count from there, aggregator or not.
  std::uint64_t drops_at_start;
};
static_assert(sizeof(ExperimentEntry) == 688);
static_assert(offsetof(ExperimentEntry, arms) == 88);
static_assert(offsetof(ExperimentEntry, reason) == 568);
static_assert(offsetof(ExperimentEntry, drops_at_start) == 680);
static_assert(offsetof(ExperimentEntry, salt) == 32);
static_assert(offsetof(ExperimentEntry, endpoints_on) == 64);
static_assert(offsetof(ExperimentEntry, exposure_bp) == 80);
static_assert(offsetof(ExperimentEntry, state) == 82);
static_assert(offsetof(ExperimentEntry, arm_count) == 83);
static_assert(offsetof(ExperimentEntry, metric_count) == 84);
static_assert(offsetof(ExperimentEntry, concluded_arm) == 85);
static_assert(offsetof(ExperimentEntry, arms) == 88);
static_assert(offsetof(ExperimentEntry, metrics) == 408);
static_assert(offsetof(ExperimentEntry, reason) == 568);

struct ConfigData {
  std::uint64_t generation;
  std::uint64_t changed_unix_ns;
  std::uint64_t salt;
  std::uint64_t checksum;                 // XXH3-64 of the whole struct with this field zero
  std::uint64_t rollout_started_unix_ns;  // `init` or the last `start` of any version: the `all` window
  std::uint8_t enabled;
  std::uint8_t hash_mode;         // HashMode
  std::uint8_t version_count;     // slots in use or retired, the baseline included: 2..kMaxVersions
  std::uint8_t ramp_count;        // steps in ramp_bp, from the aggregator's policy
  std::uint8_t require_approval;
  std::uint8_t switched;          // 1: a blue-green switch sends every user to switch_to
  std::uint8_t switch_to;         // a version index
  std::uint8_t switch_from;       // the version that served before the switch (for people to read)
  std::uint32_t endpoint_count;   // slots in use, `other` included
  std::uint32_t override_count;
  std::uint32_t fail_safe_after_ms;  // route to the baseline when the heartbeat is older; 0: off
  std::uint8_t baseline;             // the index of the baseline: it owns every bucket no candidate does
  // 1: a fleet controller owns this config through etcd (SPEC section 11); local commands that
  // change it are refused. Was reserved (always 0) before fleet mode: older segments read "no".
  std::uint8_t fleet_managed;
  std::uint8_t reserved0[2];
  char changed_by[64];
  std::uint16_t ramp_bp[kMaxRampSteps];
  std::uint64_t reserved1[4];
  VersionEntry versions[kMaxVersions];
  // The owner of each of the 10000 buckets: which version a user whose bucket it is goes to. A
  // candidate's share rises by taking baseline buckets and falls by giving its own back, so no
  // change of shares ever moves a user from one candidate to another (docs/versions.md).
  std::uint8_t bucket_owner[kMaxShareBp];
  OverrideEntry overrides[kMaxOverrides];
  EndpointEntry endpoints[kMaxEndpoints];
  // Layout 8: everything above is layout 7's config, byte for byte (migrate copies it).
  std::uint64_t reserved2;
  ExperimentEntry experiments[kMaxExperiments];
};
static_assert(sizeof(ConfigData) == 49232 + 8 + 8 * 688);
static_assert(sizeof(ConfigData) % 8 == 0, "copied word by word");
static_assert(offsetof(ConfigData, generation) == 0);
static_assert(offsetof(ConfigData, changed_unix_ns) == 8);
static_assert(offsetof(ConfigData, salt) == 16);
static_assert(offsetof(ConfigData, checksum) == 24);
static_assert(offsetof(ConfigData, rollout_started_unix_ns) == 32);
static_assert(offsetof(ConfigData, enabled) == 40);
static_assert(offsetof(ConfigData, hash_mode) == 41);
static_assert(offsetof(ConfigData, version_count) == 42);
static_assert(offsetof(ConfigData, ramp_count) == 43);
static_assert(offsetof(ConfigData, require_approval) == 44);
static_assert(offsetof(ConfigData, switched) == 45);
static_assert(offsetof(ConfigData, switch_to) == 46);
static_assert(offsetof(ConfigData, switch_from) == 47);
static_assert(offsetof(ConfigData, endpoint_count) == 48);
static_assert(offsetof(ConfigData, override_count) == 52);
static_assert(offsetof(ConfigData, fail_safe_after_ms) == 56);
static_assert(offsetof(ConfigData, baseline) == 60);
static_assert(offsetof(ConfigData, fleet_managed) == 61);
static_assert(offsetof(ConfigData, changed_by) == 64);
static_assert(offsetof(ConfigData, ramp_bp) == 128);
static_assert(offsetof(ConfigData, versions) == 192);
static_assert(offsetof(ConfigData, bucket_owner) == 2368);
static_assert(offsetof(ConfigData, overrides) == 12368);
static_assert(offsetof(ConfigData, endpoints) == 16464);
static_assert(offsetof(ConfigData, experiments) == 49240);
inline constexpr std::size_t kLayout7ConfigBytes = 49232;

// A struct published with two copies and a generation (detail/two_copy.hpp): `seq` is odd while a
// writer fills `data`; readers check it before and after copying.
template <class Data>
struct SeqlockCopy {
  std::atomic<std::uint64_t> seq;
  std::uint8_t pad[kCacheLine - 8];
  Data data;
};

template <class Data>
struct TwoCopyBlock {
  // The generation readers should take; its copy is copies[generation % 2]. Stored with release
  // after that copy is complete; a worker's hot path loads it with acquire and compares it with
  // the generation it compiled, which is the whole "config read" of route().
  std::atomic<std::uint64_t> published;
  std::uint8_t pad[kCacheLine - 8];
  SeqlockCopy<Data> copies[2];
};

using ConfigCopy = SeqlockCopy<ConfigData>;
using ConfigBlock = TwoCopyBlock<ConfigData>;
static_assert(sizeof(ConfigCopy) == 64 + sizeof(ConfigData));
static_assert(offsetof(ConfigCopy, data) == kCacheLine);
static_assert(sizeof(ConfigBlock) == 64 + 2 * sizeof(ConfigCopy));
static_assert(offsetof(ConfigBlock, copies) == kCacheLine);

// ---------------------------------------------------------------------------------------------
// Slab region: per-CPU counter slabs. slab_count = 2 * cpu_slots + 1:
//   [0, cpu_slots)              updated with restartable sequences (plain add, no lock prefix)
//   [cpu_slots, 2 * cpu_slots)  updated with atomic adds by writers without rseq, by CPU id
//   [2 * cpu_slots]             the overflow slab: atomic adds for a CPU id outside the range
// The two kinds never share a slab: a plain add and a locked add to one word could lose a count.
// Inside a slab: SlabHeader, then CounterCell[kMaxVersions][endpoint_capacity], then
// histograms u64[kMaxVersions][endpoint_capacity][kHistogramBuckets]; the stride is page-rounded.

struct SlabHeader {
  // Set to 1 by the first writer that uses the slab, so readers can skip the (usually many)
  // possible-but-absent CPUs without touching their pages.
  std::atomic<std::uint64_t> touched;
  std::uint64_t reserved[7];
};
static_assert(sizeof(SlabHeader) == kCacheLine);

// The classes a slab counts apart: SPEC's status classes (StatusClass, 0..6), and 502-504 apart
// from the other 5xx, so that "unavailable" (status 0 and 502-504) needs no add of its own.
inline constexpr std::uint32_t kSlabClassCount = 8;
inline constexpr std::uint32_t kSlabClassUnavailable5xx = 7;

// A request count and the latency those requests took, side by side in 16 aligned bytes: a record
// updates both with one 16-byte store (its commit), so a writer killed at any instruction leaves
// them agreeing, never a request counted without its latency.
struct alignas(16) CountAndSum {
  std::atomic<std::uint64_t> count;
  std::atomic<std::uint64_t> latency_sum_us;
};
static_assert(sizeof(CountAndSum) == 16);
static_assert(offsetof(CountAndSum, latency_sum_us) == 8);

// Cumulative counts of one (version, endpoint), per (method, slab class): the only per-request
// count. Totals, errors, 4xx, unavailable and the latency sum are sums of them.
struct CounterCell {
  CountAndSum requests[kMethodCount][kSlabClassCount];
};
static_assert(sizeof(CounterCell) == 768);
static_assert(sizeof(SlabHeader) % 16 == 0, "cells stay 16-byte aligned");

// Log-linear latency histogram in microseconds: values 0..127 exactly, then 64 linear sub-buckets
// per power of two, so a bucket is at most 1/64 = 1.6% of its lower bound wide. The last bucket
// holds everything above 60 s. Padded to a whole number of cache lines.
inline constexpr std::uint32_t kHistogramLinearMax = 128;
inline constexpr std::uint32_t kHistogramSubBucketBits = 6;
inline constexpr std::uint64_t kHistogramMaxUs = 60'000'000;
// The largest latency a record keeps: one hour. A larger one (a clock that stepped, a variable
// never set: one record of 2^63 us once made a version's mean 1.3e15 ms for good) is recorded as
// an hour, and counted in RingsHeader::latency_clamped. It fits the ring's 32-bit field.
inline constexpr std::uint64_t kMaxLatencyUs = 3'600'000'000;
static_assert(kMaxLatencyUs <= UINT32_MAX);
inline constexpr std::uint32_t kHistogramOverflowBucket = 1344;
inline constexpr std::uint32_t kHistogramBuckets = 1352;

// ---------------------------------------------------------------------------------------------
// Ring region: RingsHeader, then ring_count rings of RingControl + ring_records * RingRecord,
// each page-rounded. A ring has one producer (the writer that claimed it) and one consumer (the
// aggregator, or `canary-ctl reap` when none runs); positions are monotonic, index = pos & mask.

struct RingsHeader {
  std::atomic<std::uint64_t> no_ring_drops;    // records dropped because no ring was free
  std::atomic<std::uint64_t> reaped_records;   // undrained records of dead writers discarded
  std::atomic<std::uint64_t> reclaimed_rings;  // rings taken back from dead writers
  std::atomic<std::uint64_t> retired_full_drops;  // ring-full drops of owners whose rings were freed
  // Requests dead writers had in flight, counted as unavailable (status 0) by the consumer.
  std::atomic<std::uint64_t> crashed_in_flight;
  // In-flight counts of dead rings too large to be real (a corrupt segment), ignored.
  std::atomic<std::uint64_t> invalid_in_flight;
  // Experiment records lost, per experiment slot: by writers that found no free ring (atomic adds,
  // on that rare path), and the full-ring drops of rings since freed (added by their consumer).
  std::atomic<std::uint64_t> experiment_no_ring_drops[kMaxExperiments];
  std::atomic<std::uint64_t> retired_experiment_drops[kMaxExperiments];
  // Records whose latency was above kMaxLatencyUs, recorded as kMaxLatencyUs (atomic adds, on that
  // rare path; the sums stay meaningful whatever a caller passes).
  std::atomic<std::uint64_t> latency_clamped;
  std::uint8_t reserved[kPageSize - 48 - 128 - 8];
};
static_assert(sizeof(RingsHeader) == kPageSize);
static_assert(offsetof(RingsHeader, latency_clamped) == 176);
static_assert(offsetof(RingsHeader, crashed_in_flight) == 32);
static_assert(offsetof(RingsHeader, invalid_in_flight) == 40);
static_assert(offsetof(RingsHeader, experiment_no_ring_drops) == 48);
static_assert(offsetof(RingsHeader, retired_experiment_drops) == 112);
static_assert(offsetof(RingsHeader, reaped_records) == 8);
static_assert(offsetof(RingsHeader, reclaimed_rings) == 16);
static_assert(offsetof(RingsHeader, retired_full_drops) == 24);

inline constexpr std::uint32_t kRingFree = 0;
inline constexpr std::uint32_t kRingOwned = 1;

struct RingControl {
  // Line 0: ownership, changed only by a holder of the ring's lock byte.
  std::atomic<std::uint32_t> state;  // kRingFree or kRingOwned
  std::atomic<std::uint32_t> owner_pid;
  std::atomic<std::uint64_t> claims;  // how many writers have owned this ring
  std::atomic<std::uint64_t> claimed_unix_ns;
  std::atomic<std::uint64_t> first_position;  // head when the current owner claimed it
  std::uint64_t reserved0[4];
  // Lines 1-2: the producer's. head is stored with release after the record is written: the one
  // store that publishes a record. Two lines so the consumer's prefetcher does not pull it.
  std::atomic<std::uint64_t> head;
  std::atomic<std::uint64_t> drops;  // records this owner dropped because the ring was full
  std::uint64_t reserved1[14];
  // Lines 3-4: the consumer's. tail is stored with release after the records are read, so the
  // producer (acquire) never overwrites a slot the consumer is still reading.
  std::atomic<std::uint64_t> tail;
  std::uint64_t reserved2[15];
  // Line 5: experiment records this owner dropped because the ring was full, per experiment slot
  // (a subset of `drops`). Written only by the producer, like drops.
  std::atomic<std::uint64_t> experiment_drops[kMaxExperiments];
  std::uint64_t reserved3[16];
  // Lines 8-71: requests this owner has begun (canary::begin) and not yet recorded, per (version,
  // endpoint). Written only by the owner, with plain relaxed stores; read by the consumer once the
  // owner is dead (then they no longer move) or zeroed by the owner when its thread ends normally.
  std::atomic<std::uint32_t> in_flight[kMaxVersions][kMaxEndpoints];
};
static_assert(sizeof(RingControl) == 4608);
static_assert(offsetof(RingControl, in_flight) == 512);
static_assert(offsetof(RingControl, owner_pid) == 4);
static_assert(offsetof(RingControl, claims) == 8);
static_assert(offsetof(RingControl, claimed_unix_ns) == 16);
static_assert(offsetof(RingControl, first_position) == 24);
static_assert(offsetof(RingControl, head) == 64);
static_assert(offsetof(RingControl, drops) == 72);
static_assert(offsetof(RingControl, tail) == 192);
static_assert(offsetof(RingControl, experiment_drops) == 320);

// A request (kind kRecordRequest), or an experiment's exposure or outcome event. The two
// experiment kinds use the same slots under other meanings (ring.hpp's accessors name them):
// coarse_ms holds the value's bits (a double), version the experiment slot, method the arm and
// endpoint_id the metric; user_hash is the experiment's hash of the user.
inline constexpr std::uint8_t kRecordRequest = 0;
inline constexpr std::uint8_t kRecordExposure = 1;
inline constexpr std::uint8_t kRecordEvent = 2;

struct RingRecord {
  std::uint64_t user_hash;
  std::uint64_t coarse_ms;  // the aggregator's published coarse clock when recorded
  std::uint32_t latency_us;
  std::uint16_t status_code;
  std::uint16_t endpoint_id;
  std::uint8_t version;  // index into ConfigData::versions
  std::uint8_t method;   // Method
  std::uint8_t kind;     // kRecordRequest, kRecordExposure, kRecordEvent
  std::uint8_t reserved[5];
};
static_assert(sizeof(RingRecord) == 32);
static_assert(offsetof(RingRecord, coarse_ms) == 8);
static_assert(offsetof(RingRecord, latency_us) == 16);
static_assert(offsetof(RingRecord, status_code) == 20);
static_assert(offsetof(RingRecord, endpoint_id) == 22);
static_assert(offsetof(RingRecord, version) == 24);
static_assert(offsetof(RingRecord, method) == 25);
static_assert(offsetof(RingRecord, kind) == 26);

// ---------------------------------------------------------------------------------------------
// Aggregator region: written only by the live aggregator (the holder of kAggregatorLockByte).
// Offset 0: AggregatorArea; offset kSummaryOffset: SummaryBlock.

struct AggregatorArea {
  std::atomic<std::uint64_t> heartbeat_unix_ns;  // 0 until an aggregator has run
  std::atomic<std::uint64_t> coarse_clock_ms;    // CLOCK_MONOTONIC ms, the rings' timestamps
  std::atomic<std::uint32_t> pid;
  std::atomic<std::uint32_t> interval_ms;
  std::atomic<std::uint64_t> last_drain_unix_ns;
  // What the running aggregator has drained since it started (every kind), and which run that is
  // (its start, unix ns): a successor compares them with what its state files kept, and counts the
  // difference as lost with the predecessor (docs/aggregator.md, "Restarts").
  std::atomic<std::uint64_t> drained_records;
  std::atomic<std::uint64_t> run_id;
  // Latency samples and experiment records the aggregators drained and lost in a crash, over the
  // segment's life (the aggregator's checkpoint carries them across restarts).
  std::atomic<std::uint64_t> lost_records;
  std::uint64_t reserved0;
  // Of drained_records, each experiment slot's exposures and events.
  std::atomic<std::uint64_t> drained_experiment_records[kMaxExperiments];
};
static_assert(sizeof(AggregatorArea) == 2 * kCacheLine);
static_assert(offsetof(AggregatorArea, run_id) == 40);
static_assert(offsetof(AggregatorArea, drained_experiment_records) == 64);
static_assert(offsetof(AggregatorArea, coarse_clock_ms) == 8);
static_assert(offsetof(AggregatorArea, pid) == 16);
static_assert(offsetof(AggregatorArea, last_drain_unix_ns) == 24);

// The aggregator's latest figures, published every interval so a worker, the demo server or
// canary-shm-dump can show them without HTTP. Windows in the order 5m, 1h, 6h, 24h, all.
inline constexpr std::uint32_t kSummaryWindows = 5;

struct SummaryStats {
  std::uint64_t requests;
  std::uint64_t errors;
  std::uint64_t client_errors;
  std::uint64_t unavailable;
  std::uint64_t latency_sum_us;
  double p50_ms;  // NaN when the window has no latency samples
  double p95_ms;
  double p99_ms;
};
static_assert(sizeof(SummaryStats) == 64);
static_assert(offsetof(SummaryStats, latency_sum_us) == 32);
static_assert(offsetof(SummaryStats, p50_ms) == 40);

struct SummaryData {
  std::uint64_t generation;  // of this summary, not of the config
  std::uint64_t generated_unix_ns;
  std::uint64_t config_generation;
  std::uint64_t rollout_started_unix_ns;
  std::uint32_t interval_ms;
  std::uint32_t endpoint_count;  // endpoints[0 .. endpoint_count) are meaningful
  std::uint64_t checksum;        // XXH3-64 of the struct with this field zero
  std::uint64_t judged_unix_ns;  // when the decision engine last judged; 0: never
  std::uint8_t gate_holds;       // that judgement: the first candidate's promotion gate held
  std::uint8_t rollback_proven;  // that judgement: a rollback trigger held for the first candidate
  std::uint8_t gate_holds_by_version;  // bit v: candidate v's gate held
  // Fleet mode: 0 not in a fleet, 1 connected to etcd, 2 not (fail-static). Was reserved (0).
  std::uint8_t fleet_state;
  std::uint8_t reserved[4];
  SummaryStats totals[kSummaryWindows][kMaxVersions];
  SummaryStats endpoints[kMaxEndpoints][kMaxVersions];  // the `all` window, by endpoint id
};
static_assert(sizeof(SummaryData) == 64 + 2560 + 65536);
static_assert(offsetof(SummaryData, checksum) == 40);
static_assert(offsetof(SummaryData, judged_unix_ns) == 48);
static_assert(offsetof(SummaryData, gate_holds) == 56);
static_assert(offsetof(SummaryData, gate_holds_by_version) == 58);
static_assert(offsetof(SummaryData, totals) == 64);
static_assert(offsetof(SummaryData, endpoints) == 2624);

using SummaryBlock = TwoCopyBlock<SummaryData>;
static_assert(sizeof(SummaryBlock) == 64 + 2 * (64 + sizeof(SummaryData)));

// The experiments' sufficient statistics, published every interval (layout 8): per arm, the users
// the aggregator has seen, their exposures, and per metric the sum and the sum of squares of the
// users' values. Any reader computes the same results from them (experiment/results.hpp).
struct ArmMetricTotals {
  double sum;
  double sum_squares;
  std::uint64_t events;
};
static_assert(sizeof(ArmMetricTotals) == 24);

struct ArmTotals {
  std::uint64_t users;
  std::uint64_t exposures;
  ArmMetricTotals metrics[kMaxExperimentMetrics];
};
static_assert(sizeof(ArmTotals) == 112);

struct ExperimentTotals {
  std::uint64_t created_unix_ns;   // the experiment these are of (ExperimentEntry::created_unix_ns); 0: none
  std::uint64_t records_dropped;   // exposures and events writers lost (ring full, no ring)
  std::uint64_t users_untracked;   // records of users beyond the aggregator's memory bound, not counted
  std::uint64_t records_ignored;   // records while not running, or for a metric it does not declare
  std::uint64_t arm_mismatches;    // records of a user under another arm than their first, not counted
  std::uint64_t records_lost;      // drained by an aggregator that was killed before it kept them
  std::uint64_t reserved[2];
  ArmTotals arms[kMaxArms];
};
static_assert(sizeof(ExperimentTotals) == 64 + 896);
static_assert(offsetof(ExperimentTotals, arms) == 64);

struct ExperimentResultsData {
  std::uint64_t generation;
  std::uint64_t generated_unix_ns;
  std::uint64_t checksum;       // XXH3-64 of the struct with this field zero
  std::uint64_t users_tracked;  // every experiment's, against users_limit
  std::uint64_t users_limit;
  std::uint64_t reserved[3];
  ExperimentTotals experiments[kMaxExperiments];
};
static_assert(sizeof(ExperimentResultsData) == 64 + 8 * 960);
static_assert(offsetof(ExperimentResultsData, checksum) == 16);
static_assert(offsetof(ExperimentResultsData, experiments) == 64);

using ExperimentResultsBlock = TwoCopyBlock<ExperimentResultsData>;

// The aggregator region: the area above, at kSummaryOffset the published summary, and at
// kExperimentResultsOffset the experiments' totals.
inline constexpr std::uint64_t kSummaryOffset = kPageSize;
inline constexpr std::uint64_t kExperimentResultsOffset = 160 * 1024;
inline constexpr std::uint64_t kAggregatorRegionSize = 256 * 1024;
static_assert(kSummaryOffset + sizeof(SummaryBlock) <= kExperimentResultsOffset);
static_assert(kExperimentResultsOffset + sizeof(ExperimentResultsBlock) <= kAggregatorRegionSize);
// ---------------------------------------------------------------------------------------------
// Events region: the last deployment events (starts, ramp steps, rollbacks, ...), a ring of
// fixed-size entries appended by config writers under the config lock. An entry's seq is 0 while
// it is written and its sequence number once complete (stored with release, last).

inline constexpr std::uint64_t kEventsRegionSize = 256 * 1024;

struct EventLogHeader {
  std::atomic<std::uint64_t> last_seq;  // the newest complete event; 0: none
  std::uint32_t capacity;
  std::uint32_t entry_size;
  std::uint64_t reserved[6];
};
static_assert(sizeof(EventLogHeader) == kCacheLine);

struct EventEntry {
  std::atomic<std::uint64_t> seq;
  std::uint64_t unix_ns;
  std::uint64_t monotonic_ms;
  std::uint64_t config_generation;  // the generation the change published
  std::uint32_t share_before_bp;
  std::uint32_t share_after_bp;
  std::uint8_t kind;  // EventKind
  std::uint8_t from_state;
  std::uint8_t to_state;
  std::uint8_t version;      // the index of the version it concerns
  std::uint32_t latency_ms;  // automatic rollback: first provable record to the config change
  char actor[64];
  char reason[192];
  char version_name[32];  // that version's name when the event was made
  char details[688];      // JSON: the numbers behind the decision
};
static_assert(sizeof(EventEntry) == 1024);
static_assert(offsetof(EventEntry, share_before_bp) == 32);
static_assert(offsetof(EventEntry, kind) == 40);
static_assert(offsetof(EventEntry, latency_ms) == 44);
static_assert(offsetof(EventEntry, actor) == 48);
static_assert(offsetof(EventEntry, reason) == 112);
static_assert(offsetof(EventEntry, version) == 43);
static_assert(offsetof(EventEntry, version_name) == 304);
static_assert(offsetof(EventEntry, details) == 336);
inline constexpr std::uint32_t kEventCapacity = (kEventsRegionSize - sizeof(EventLogHeader)) / sizeof(EventEntry);
static_assert(kEventCapacity == 255);

}  // namespace canary
