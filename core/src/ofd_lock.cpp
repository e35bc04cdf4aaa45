// SPDX-License-Identifier: Apache-2.0
#include "canary/ofd_lock.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

namespace canary {

namespace {

struct flock one_byte(short type, std::int64_t byte) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  fl.l_pid = 0;  // must be 0 for OFD locks
  return fl;
}

}  // namespace

bool try_lock_byte(int fd, std::int64_t byte) {
  struct flock fl = one_byte(F_WRLCK, byte);
  while (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

Status lock_byte(int fd, std::int64_t byte, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(50);
  while (!try_lock_byte(fd, byte)) {
    if (errno != EAGAIN && errno != EACCES)
      return {Errc::system, std::string("cannot lock the segment: ") + std::strerror(errno)};
    if (std::chrono::steady_clock::now() >= deadline)
      return {Errc::busy, "another process holds the lock"};
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
  return Status::Ok();
}

void unlock_byte(int fd, std::int64_t byte) {
  struct flock fl = one_byte(F_UNLCK, byte);
  while (fcntl(fd, F_OFD_SETLK, &fl) != 0 && errno == EINTR) {
  }
}

bool byte_is_locked(int fd, std::int64_t byte) {
  struct flock fl = one_byte(F_WRLCK, byte);
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return false;
  return fl.l_type != F_UNLCK;
}

}  // namespace canary
