// SPDX-License-Identifier: Apache-2.0
// The aggregator's files in its state directory, and the rules they all follow: created 0600 (a
// checkpoint holds traffic figures), and either written whole or not at all.
#pragma once

#include <string>
#include <string_view>

#include "canary/status.hpp"

namespace canary {

// Refuses a directory that does not exist, is not a directory, or cannot be written (it creates,
// syncs and removes a probe file): a state dir that fails later would lose data silently.
Status check_state_dir(const std::string& path);

// An append-only file of whole lines (events.jsonl). Each line goes out in one write(2) on an
// O_APPEND descriptor; a write that fails part way (a full disk) is cut back to where the file
// ended, so a reader never sees half a line. Not thread-safe: one owner.
class LineFile {
 public:
  explicit LineFile(std::string path) : path_(std::move(path)) {}
  ~LineFile();
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;

  // `line` without its newline. On failure the file is as it was, and the error names it.
  Status append(std::string_view line);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;  // opened on the first append, reopened after a failure
};

}  // namespace canary
