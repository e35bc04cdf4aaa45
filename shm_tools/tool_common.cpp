// SPDX-License-Identifier: Apache-2.0
#include "tool_common.hpp"

#include "canary/build_info.hpp"
#include "canary/layout.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "canary/log.hpp"
#include "canary/segment.hpp"
#include "canary/share.hpp"

namespace canary::tools {

int exit_code_for(Errc code) {
  switch (code) {
    case Errc::ok:
      return kExitOk;
    case Errc::missing:
      return kExitMissing;
    case Errc::not_ours:
    case Errc::untrusted:
    case Errc::other_version:
    case Errc::truncated:
    case Errc::not_ready:
    case Errc::corrupt:
      return kExitIncompatible;
    default:
      return kExitError;
  }
}

int report_error(std::string_view tool, const Status& status) {
  if (!status.ok()) std::cerr << tool << ": " << status.message() << '\n';
  return exit_code_for(status.code());
}

CLI::Option* add_segment_option(CLI::App& app, std::string& name) {
  name = default_segment_name();
  return app.add_option("--segment", name, "shared-memory segment name (default: $CANARY_SEGMENT or 'canary')");
}

std::string version_text(std::string_view tool) {
  const std::string revision(build_revision());
  return std::string(tool) + " " + std::string(build_version()) + " (layout " + std::to_string(kLayoutVersion) +
         (revision.empty() ? "" : ", " + revision) + ")";
}

void add_version_flag(CLI::App& app, std::string_view tool) {
  app.set_version_flag("--version", version_text(tool), "print the version, the segment layout and the revision, then exit");
}

int parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion& v) {
    std::cout << v.what() << '\n';
    return kExitOk;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    const auto extras = app.remaining();
    if (app.get_subcommands().empty() && !extras.empty() && app.get_require_subcommand_min() > 0)
      std::cerr << app.get_name() << ": unknown command '" << extras.front() << "' (--help lists the commands)\n";
    else
      std::cerr << app.get_name() << ": " << e.what() << " (--help lists the options)\n";
    return kExitError;
  }
  return -1;
}

std::string who(std::string_view action) {
  std::string user = std::to_string(getuid());
  struct passwd entry {};
  struct passwd* found = nullptr;
  char buffer[4096];
  if (getpwuid_r(getuid(), &entry, buffer, sizeof buffer, &found) == 0 && found) user = found->pw_name;
  return std::string(action) + " by " + user + " (pid " + std::to_string(getpid()) + ")";
}

Expected<std::uint64_t> parse_bounded(std::string_view text, std::string_view what, std::uint64_t min,
                                      std::uint64_t max) {
  auto v = parse_u64(text, what);
  if (!v || *v < min || *v > max)
    return Status{Errc::invalid_argument, std::string(what) + " '" + std::string(text.substr(0, 40)) +
                                              "' must be a whole number from " + std::to_string(min) + " to " +
                                              std::to_string(max)};
  return v;
}

Expected<std::uint64_t> parse_bytes(std::string_view text, std::string_view what, std::uint64_t min) {
  std::uint64_t unit = 1;
  std::string_view digits = text;
  for (const auto& [suffix, bytes] : {std::pair<std::string_view, std::uint64_t>{"KiB", 1ull << 10}, {"MiB", 1ull << 20},
                                      {"GiB", 1ull << 30}, {"K", 1ull << 10}, {"M", 1ull << 20}, {"G", 1ull << 30}}) {
    if (digits.size() > suffix.size() && digits.substr(digits.size() - suffix.size()) == suffix) {
      digits.remove_suffix(suffix.size());
      unit = bytes;
      break;
    }
  }
  constexpr std::uint64_t kMax = 1ull << 50;
  auto v = parse_u64(digits, what);
  if (!v || *v > kMax / unit || *v * unit < min)
    return Status{Errc::invalid_argument, std::string(what) + " '" + std::string(text.substr(0, 40)) +
                                              "' must be a number of bytes, at least " + std::to_string(min) +
                                              ", optionally with K, M or G (KiB, MiB, GiB), e.g. 512M"};
  return *v * unit;
}

void warn_if_world_readable(const std::string& path, std::string_view flag) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !(st.st_mode & S_IROTH)) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  log(LogLevel::warn, "a secret is readable by every local user: chmod o-r it",
      {{"file", path}, {"option", flag}, {"mode", std::string(mode)}});
}

Expected<double> parse_number(std::string_view text, std::string_view what) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    return Status{Errc::invalid_argument, std::string(what) + " '" + std::string(text.substr(0, 40)) + "' is not a decimal number"};
  return value;
}

Expected<double> parse_fraction(std::string_view text, std::string_view what) {
  auto v = parse_number(text, what);
  if (!v) return v;
  if (*v < 0 || *v > 1)
    return Status{Errc::invalid_argument, std::string(what) + " '" + std::string(text) + "' must be a fraction from 0 to 1 (0.01 = 1%)"};
  return v;
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace canary::tools
