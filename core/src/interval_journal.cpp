// SPDX-License-Identifier: Apache-2.0
#include "canary/interval_journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "canary/atomic_file.hpp"
#include "canary/byte_io.hpp"
#include "canary/detail/xxhash.hpp"

namespace canary {

namespace {

constexpr std::uint64_t kMaxEntryBytes = 256ull << 20;

Status failed(const std::string& what, int err) { return {Errc::system, what + ": " + std::strerror(err)}; }

}  // namespace

IntervalJournal::~IntervalJournal() {
  if (fd_ >= 0) close(fd_);
}

Status IntervalJournal::open_if_needed() {
  if (fd_ >= 0) return Status::Ok();
  fd_ = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return failed("cannot open " + path_, errno);
  return Status::Ok();
}

Status IntervalJournal::append(std::string_view payload) {
  if (Status s = open_if_needed(); !s.ok()) return s;
  ByteWriter entry;
  entry.u64(XXH3_64bits(payload.data(), payload.size()));
  entry.bytes(payload);
  struct stat before {};
  if (fstat(fd_, &before) != 0) return failed("cannot stat " + path_, errno);
  std::string_view left = entry.out();
  while (!left.empty()) {
    const ssize_t n = ::write(fd_, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n == 0 ? ENOSPC : errno;
      if (ftruncate(fd_, before.st_size) != 0) {
        close(fd_);
        fd_ = -1;
      }
      return failed("cannot append to " + path_, err);
    }
    left.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Status IntervalJournal::reset() {
  if (Status s = open_if_needed(); !s.ok()) return s;
  if (ftruncate(fd_, 0) != 0) return failed("cannot empty " + path_, errno);
  return Status::Ok();
}

std::vector<std::string> IntervalJournal::read(const std::string& path) {
  std::vector<std::string> entries;
  auto file = read_whole_file(path);
  if (!file) return entries;
  ByteReader in(*file);
  while (!in.at_end()) {
    std::uint64_t checksum = 0;
    std::string_view payload;
    if (!in.u64(checksum) || !in.bytes(payload, kMaxEntryBytes)) break;
    if (XXH3_64bits(payload.data(), payload.size()) != checksum) break;
    entries.emplace_back(payload);
  }
  return entries;
}

}  // namespace canary
