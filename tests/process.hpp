// SPDX-License-Identifier: Apache-2.0
// Child processes for the multi-process tests: fork a function, kill it, reap it.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>

namespace canary::testing {

// Runs `body` in a child that exits with its return value (and never returns into gtest).
inline pid_t fork_child(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    int rc = 1;
    try {
      rc = body();
    } catch (...) {
    }
    _exit(rc);
  }
  return pid;
}

// The child's exit status, or 128 + signal when a signal ended it.
inline int wait_child(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

inline void kill_child(pid_t pid) {
  kill(pid, SIGKILL);
  wait_child(pid);
}

}  // namespace canary::testing
