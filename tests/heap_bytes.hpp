// SPDX-License-Identifier: Apache-2.0
// What the process holds from malloc right now, measured by glibc (mallinfo2): the bytes in use in
// the arenas and in chunks mapped on their own. Tests and benchmarks of memory bounds compare two
// readings; a sanitizer's allocator does not answer (it reports 0), so they run in release builds.
#pragma once

#include <malloc.h>

#include <cstddef>

namespace canary::test {

inline std::size_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

}  // namespace canary::test
