// SPDX-License-Identifier: Apache-2.0
// The aggregator's journal: one entry per interval with the latency samples it drained, appended
// to --state-dir/NAME.journal, so that a kill -9 between two checkpoints loses at most the interval
// it interrupted. A checkpoint covers everything up to its journal sequence and empties the file;
// a restart restores the checkpoint and replays the entries after it.
//
// An entry is one write(2): XXH3-64 of the payload (u64), its length (u64), the payload. A kill cannot
// leave a whole page cache write half done, but a full disk can: reading stops at the first entry
// whose length or checksum does not hold, and everything before it is used.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "canary/status.hpp"

namespace canary {

class IntervalJournal {
 public:
  explicit IntervalJournal(std::string path) : path_(std::move(path)) {}
  ~IntervalJournal();
  IntervalJournal(const IntervalJournal&) = delete;
  IntervalJournal& operator=(const IntervalJournal&) = delete;

  // On failure the file is cut back to where it ended, so the next entry still lines up.
  Status append(std::string_view payload);
  // Empties the file (after a checkpoint that covers every entry).
  Status reset();
  const std::string& path() const { return path_; }

  // The payloads of the whole entries at the start of the file; none when it does not exist.
  static std::vector<std::string> read(const std::string& path);

 private:
  Status open_if_needed();
  std::string path_;
  int fd_ = -1;
};

}  // namespace canary
