// SPDX-License-Identifier: Apache-2.0
// Locks the kernel drops when their holder dies: open-file-description locks on one byte of the
// segment's file. They belong to an open file description, not to a process, so two threads that
// each opened the file hold distinct locks, and a process killed with SIGKILL releases them all.
// Liveness is read from these locks, never from kill(pid, 0): pids are reused.
#pragma once

#include <chrono>
#include <cstdint>

#include "canary/status.hpp"

namespace canary {

// Exclusive lock on `byte`; false when another open file description holds it.
bool try_lock_byte(int fd, std::int64_t byte);

// Retries try_lock_byte until `timeout`; Errc::busy afterwards.
Status lock_byte(int fd, std::int64_t byte, std::chrono::milliseconds timeout);

void unlock_byte(int fd, std::int64_t byte);

// True when an open file description other than fd's holds a lock on `byte`. Works on a
// read-only descriptor, so the dump tool can tell live owners without changing anything.
bool byte_is_locked(int fd, std::int64_t byte);

}  // namespace canary
