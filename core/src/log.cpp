// SPDX-License-Identifier: Apache-2.0
#include "canary/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <ctime>

#include <nlohmann/json.hpp>

#include "canary/clock.hpp"

namespace canary {

namespace {

// relaxed: the format is set once at start, before any thread logs.
std::atomic<LogFormat> g_format{LogFormat::logfmt};

constexpr std::string_view level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    default:
      return "error";
  }
}

// RFC 3339 with milliseconds, UTC: what log shippers parse without configuration.
std::string timestamp(std::uint64_t unix_ns) {
  const auto seconds = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%03uZ", static_cast<unsigned>(unix_ns / 1'000'000 % 1000));
  return text;
}

std::string number_text(double v) {
  char text[64];
  const auto r = std::to_chars(text, text + sizeof text, v);
  return std::string(text, r.ptr);
}

// logfmt quotes a value with spaces, quotes, '=' or control characters, and escapes inside.
void append_logfmt_value(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) quote = quote || c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  if (!quote) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "logfmt") return LogFormat::logfmt;
  if (text == "json") return LogFormat::json;
  return std::nullopt;
}

void set_log_format(LogFormat format) { g_format.store(format, std::memory_order_relaxed); }

std::string format_log_line(LogFormat format, std::uint64_t unix_ns, LogLevel level, std::string_view message,
                            std::initializer_list<LogField> fields) {
  if (format == LogFormat::json) {
    nlohmann::ordered_json line = {{"time", timestamp(unix_ns)}, {"level", level_name(level)}, {"msg", message}};
    for (const LogField& f : fields)
      std::visit([&](const auto& v) { line[std::string(f.key)] = v; }, f.value);
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string out = "time=" + timestamp(unix_ns) + " level=" + std::string(level_name(level)) + " msg=";
  append_logfmt_value(out, message);
  for (const LogField& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>)
            append_logfmt_value(out, v);
          else if constexpr (std::is_same_v<T, bool>)
            out += v ? "true" : "false";
          else if constexpr (std::is_same_v<T, double>)
            out += number_text(v);
          else
            out += std::to_string(v);
        },
        f.value);
  }
  return out;
}

void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  std::string line = format_log_line(g_format.load(std::memory_order_relaxed), unix_now_ns(), level, message, fields);
  line += '\n';
  // One write: lines from different threads never interleave. A failed write to stderr has
  // nowhere else to go.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace canary
