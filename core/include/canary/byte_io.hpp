// SPDX-License-Identifier: Apache-2.0
// Little binary writer and bounds-checked reader for the aggregator's checkpoint file.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace canary {

class ByteWriter {
 public:
  void u64(std::uint64_t v) { raw(&v, sizeof v); }
  void f64(double v) { raw(&v, sizeof v); }
  void bytes(std::string_view b) {
    u64(b.size());
    out_.append(b);
  }
  std::string& out() { return out_; }

 private:
  void raw(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

// Every read checks the remaining length; after the first failure every read fails.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool u64(std::uint64_t& v) { return raw(&v, sizeof v); }
  bool f64(double& v) { return raw(&v, sizeof v); }
  bool bytes(std::string_view& b, std::uint64_t max) {
    std::uint64_t n = 0;
    if (!u64(n) || n > max || n > in_.size()) return ok_ = false;
    b = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return in_.empty(); }

 private:
  bool raw(void* p, std::size_t n) {
    if (!ok_ || in_.size() < n) return ok_ = false;
    std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace canary
