// SPDX-License-Identifier: Apache-2.0
#include "canary/state_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace canary {

namespace {

Status failed(const std::string& what, int err) { return {Errc::system, what + ": " + std::strerror(err)}; }

// All of `bytes` in one write where the kernel allows it; false (errno set) when not all went out.
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Status check_state_dir(const std::string& path) {
  const std::string what = "--state-dir '" + path + "'";
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return failed(what, errno);
  if (!S_ISDIR(st.st_mode)) return {Errc::invalid_argument, what + " is not a directory"};
  const std::string probe = path + "/.canary-write-probe." + std::to_string(getpid());
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return failed(what + " cannot be written", errno);
  const bool ok = write_all(fd, "probe\n") && fsync(fd) == 0;
  const int err = errno;
  close(fd);
  unlink(probe.c_str());
  if (!ok) return failed(what + " cannot be written", err);
  return Status::Ok();
}

LineFile::~LineFile() {
  if (fd_ >= 0) close(fd_);
}

Status LineFile::append(std::string_view line) {
  if (fd_ < 0) {
    fd_ = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return failed("cannot open " + path_, errno);
  }
  struct stat before {};
  if (fstat(fd_, &before) != 0) return failed("cannot stat " + path_, errno);
  std::string whole(line);
  whole += '\n';
  if (write_all(fd_, whole)) return Status::Ok();
  const int err = errno;
  // Cut the partial line back; if even that fails, start the next append on a fresh descriptor.
  if (ftruncate(fd_, before.st_size) != 0) {
    close(fd_);
    fd_ = -1;
  }
  return failed("cannot append to " + path_, err);
}

}  // namespace canary
