// SPDX-License-Identifier: Apache-2.0
// Log lines on stderr for operators and their log shippers: one line per call, with a time, a
// level, a message and key=value fields, in logfmt (the default) or JSON (--log-format json).
//
//   time=2026-11-29T10:04:12.345Z level=warn msg="automatic rollback" segment=canary share_before=5
//   {"time":"2026-11-29T10:04:12.345Z","level":"warn","msg":"automatic rollback","segment":"canary",...}
//
// Thread-safe: a line is written with one write(2), so lines from threads never interleave.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace canary {

enum class LogLevel { debug, info, warn, error };
enum class LogFormat { logfmt, json };

std::optional<LogFormat> parse_log_format(std::string_view text);
void set_log_format(LogFormat format);

struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  LogField(std::string_view k, std::uint64_t v) : key(k), value(v) {}
  LogField(std::string_view k, std::int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, std::uint32_t v) : key(k), value(std::uint64_t{v}) {}
  LogField(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}

  std::string_view key;
  std::variant<std::string, std::uint64_t, std::int64_t, double, bool> value;
};

void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

// The line log() would write, without the newline (for tests).
std::string format_log_line(LogFormat format, std::uint64_t unix_ns, LogLevel level, std::string_view message,
                            std::initializer_list<LogField> fields);

}  // namespace canary
