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

// slabs[cpu * stride] is a SlabHeader whose first word is the touched flag; adds `value` to the
// word at slabs + cpu * stride + offset.
inline bool rseq_slab_add(char* slabs, std::uint64_t stride, std::uint32_t cpu_slots, std::uint64_t offset,
                          std::uint64_t value) noexcept {
  asm goto(
      // The descriptor the kernel reads: version, flags, start, length up to the commit, abort.
      // "?" puts the section in the group of the function it is inlined into, so the linker
      // keeps or discards both together when that function is an inline (COMDAT) one.
      ".pushsection __rseq_cs, \"aw?\"\n\t"
      ".balign 32\n\t"
      "3:\n\t"
      ".long 0x0, 0x0\n\t"
      ".quad 1f, (2f - 1f), 4f\n\t"
      ".popsection\n\t"
      "leaq 3b(%%rip), %%rax\n\t"
      "movq %%rax, 8(%[rs])\n\t"  // rseq->rseq_cs = &descriptor
      "1:\n\t"
      "movl 4(%[rs]), %%eax\n\t"  // rseq->cpu_id
      "cmpl %[cpu_slots], %%eax\n\t"
      "jae %l[give_up]\n\t"
      "imulq %[stride], %%rax\n\t"
      "addq %[slabs], %%rax\n\t"
      "movq $1, (%%rax)\n\t"                   // SlabHeader::touched
      "addq %[value], (%%rax, %[offset])\n\t"  // the commit
      "2:\n\t"
      // The abort handler, preceded by the signature glibc registered (RSEQ_SIG in a ud1).
      ".pushsection __rseq_failure, \"ax?\"\n\t"
      ".byte 0x0f, 0xb9, 0x3d\n\t"
      ".long 0x53053053\n\t"
      "4:\n\t"
      "jmp %l[give_up]\n\t"
      ".popsection\n\t"
      :
      : [rs] "r"(rseq_area()), [cpu_slots] "r"(cpu_slots), [stride] "r"(stride), [slabs] "r"(slabs),
        [offset] "r"(offset), [value] "r"(value)
      : "rax", "cc", "memory"
      : give_up);
  return true;
give_up:
  return false;
}

#else

inline bool rseq_registered() noexcept { return false; }
inline bool rseq_slab_add(char*, std::uint64_t, std::uint32_t, std::uint64_t, std::uint64_t) noexcept { return false; }

#endif

}  // namespace canary::detail
