// SPDX-License-Identifier: Apache-2.0
// Errors of the slow paths (attach, create, config changes, parsing): a code a tool can map to an
// exit status, and one line of text that names what is wrong. The hot path never produces these.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace canary {

enum class Errc {
  ok = 0,
  missing,           // the segment does not exist
  not_ours,          // something else lives under that name
  untrusted,         // owned by another user (not root) or writable by every user: not attached
  other_version,     // a canary segment of another layout version
  truncated,         // smaller than its header says
  not_ready,         // still being created (zero magic)
  corrupt,           // fields out of bounds, checksum mismatch
  exists,            // create refused: already there
  invalid_argument,  // bad input from a user
  refused,           // valid input that the current state does not allow
  busy,              // a lock could not be taken in time
  system,            // an OS call failed
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == Errc::ok; }
  Errc code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Errc code_ = Errc::ok;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Status error) : v_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  const Status& status() const { return std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace canary
