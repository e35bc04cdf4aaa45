// SPDX-License-Identifier: Apache-2.0
// Adding to the calling CPU's slab without a lock prefix, using restartable sequences.
//
// glibc 2.35+ registers an rseq area for every thread (at the thread pointer + __rseq_offset); the
// kernel keeps the current CPU id in it and, if the thread is preempted, migrated or signalled
// while its instruction pointer is inside a registered critical section, restarts it at the abort
// handler. The critical section below reads the CPU id, marks that CPU's slab touched (idempotent,
// so harmless if repeated) and commits with one non-locked `add` to memory: an interrupt cannot
// split an instruction, and any preemption before it aborts the section, so no other thread can
// have used this CPU's slab in between. That makes a per-CPU add about 1 ns instead of a locked
// add's 2.6-7 ns (ANCHORS.md).
//
// The section gives up (returns false) when aborted or when the CPU id is outside the slabs; the
// caller then adds atomically to the overflow slab. It never loops.
#pragma once

#include <cstdint>

#if defined(__x86_64__) && defined(__linux__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CANARY_NO_RSEQ_BUILD 1
#endif
#endif
#if !defined(CANARY_NO_RSEQ_BUILD) && __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#define CANARY_HAVE_RSEQ 1
#endif
#endif

namespace canary::detail {

#if CANARY_HAVE_RSEQ

inline struct rseq* rseq_area() noexcept {
  return reinterpret_cast<struct rseq*>(static_cast<char*>(__builtin_thread_pointer()) + __rseq_offset);
}

// Whether this thread has a usable rseq area (glibc registered it and the kernel accepted it).
inline bool rseq_registered() noexcept {
  return __rseq_size >= 20 && static_cast<std::int32_t>(rseq_area()->cpu_id) >= 0;
}

// The text both critical sections share. Before the commit: the descriptor the kernel reads
// (version, flags, start, length up to the commit, abort; "?" puts the section in the group of the
// function it is inlined into, so the linker keeps or discards both together when that function
// is an inline (COMDAT) one), its registration in rseq->rseq_cs, the CPU id, the CPU's slab in rax
// and its touched flag set. After the commit (label 2): the abort handler, preceded by the
// signature glibc registered (RSEQ_SIG in a ud1).
#define CANARY_RSEQ_SLAB_SECTION_BEGIN          \
  ".pushsection __rseq_cs, \"aw?\"\n\t"          \
  ".balign 32\n\t"                              \
  "3:\n\t"                                      \
  ".long 0x0, 0x0\n\t"                          \
  ".quad 1f, (2f - 1f), 4f\n\t"                 \
  ".popsection\n\t"                             \
  "leaq 3b(%%rip), %%rax\n\t"                   \
  "movq %%rax, 8(%[rs])\n\t"                    \
  "1:\n\t"                                      \
  "movl 4(%[rs]), %%eax\n\t"                    \
  "cmpl %[cpu_slots], %%eax\n\t"                \
  "jae %l[give_up]\n\t"                         \
  "imulq %[stride], %%rax\n\t"                  \
  "addq %[slabs], %%rax\n\t"                    \
  "movq $1, (%%rax)\n\t"

#define CANARY_RSEQ_SLAB_SECTION_END            \
  "2:\n\t"                                      \
  ".pushsection __rseq_failure, \"ax?\"\n\t"     \
  ".byte 0x0f, 0xb9, 0x3d\n\t"                  \
  ".long 0x53053053\n\t"                        \
  "4:\n\t"                                      \
  "jmp %l[give_up]\n\t"                         \
  ".popsection\n\t"

// slabs[cpu * stride] is a SlabHeader whose first word is the touched flag; adds `value` to the
// word at slabs + cpu * stride + offset.
inline bool rseq_slab_add(char* slabs, std::uint64_t stride, std::uint32_t cpu_slots, std::uint64_t offset,
                          std::uint64_t value) noexcept {
  asm goto(CANARY_RSEQ_SLAB_SECTION_BEGIN
           "addq %[value], (%%rax, %[offset])\n\t"  // the commit
           CANARY_RSEQ_SLAB_SECTION_END
      :
      : [rs] "r"(rseq_area()), [cpu_slots] "r"(cpu_slots), [stride] "r"(stride), [slabs] "r"(slabs),
        [offset] "r"(offset), [value] "r"(value)
      : "rax", "cc", "memory"
      : give_up);
  return true;
give_up:
  return false;
}

// The same section for a CountAndSum pair at `offset` (16-byte aligned): load both words, add
// (1, latency) and commit both with one 16-byte store, so that a kill, a preemption or a signal
// at any instruction leaves the count and the sum agreeing.
inline bool rseq_slab_add_pair(char* slabs, std::uint64_t stride, std::uint32_t cpu_slots, std::uint64_t offset,
                               std::uint64_t latency_us) noexcept {
  using Pair = long long __attribute__((vector_size(16)));
  const Pair increment = {1, static_cast<long long>(latency_us)};  // count, then sum (CountAndSum)
  asm goto(CANARY_RSEQ_SLAB_SECTION_BEGIN
           "movdqa (%%rax, %[offset]), %%xmm15\n\t"
           "paddq %[inc], %%xmm15\n\t"
           "movdqa %%xmm15, (%%rax, %[offset])\n\t"  // the commit: both words in one store
           CANARY_RSEQ_SLAB_SECTION_END
      :
      : [rs] "r"(rseq_area()), [cpu_slots] "r"(cpu_slots), [stride] "r"(stride), [slabs] "r"(slabs),
        [offset] "r"(offset), [inc] "x"(increment)
      : "rax", "xmm15", "cc", "memory"
      : give_up);
  return true;
give_up:
  return false;
}

#else

inline bool rseq_registered() noexcept { return false; }
inline bool rseq_slab_add(char*, std::uint64_t, std::uint32_t, std::uint64_t, std::uint64_t) noexcept { return false; }
inline bool rseq_slab_add_pair(char*, std::uint64_t, std::uint32_t, std::uint64_t, std::uint64_t) noexcept { return false; }

#endif

// Without rseq: (count + 1, sum + latency) by compare-and-swap of both words at once, a few tries
// at most (a failure means another thread on this slab just committed). Should every try lose, the
// two words are added one by one, the sum first: a count is never seen without its latency. No
// loop without a bound, no lock.
inline void atomic_add_pair(std::uint64_t* pair, std::uint64_t latency_us) noexcept {
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__) && !defined(CANARY_NO_RSEQ_BUILD)
  std::uint64_t count = __atomic_load_n(&pair[0], __ATOMIC_RELAXED);
  std::uint64_t sum = __atomic_load_n(&pair[1], __ATOMIC_RELAXED);
  for (int attempt = 0; attempt < 8; ++attempt) {
    bool swapped;
    // On failure cmpxchg16b loads the current words into rdx:rax, ready for the next try.
    asm volatile("lock cmpxchg16b %[pair]"
                 : "=@ccz"(swapped), [pair] "+m"(*reinterpret_cast<unsigned __int128*>(pair)), "+a"(count), "+d"(sum)
                 : "b"(count + 1), "c"(sum + latency_us)
                 : "memory");
    if (swapped) return;
  }
#endif
  __atomic_fetch_add(&pair[1], latency_us, __ATOMIC_RELAXED);
  __atomic_fetch_add(&pair[0], 1, __ATOMIC_RELAXED);
}

}  // namespace canary::detail
