// SPDX-License-Identifier: Apache-2.0
// What every command-line tool shares: one-line errors on stderr, the exit codes
// (0 ok, 1 bad input or refused, 2 segment missing, 3 segment incompatible or corrupt), the
// --segment option, and the "who changed it" text written into the config.
#pragma once

#include <string>
#include <vector>
#include <string_view>

#include <CLI/CLI.hpp>

#include "canary/status.hpp"

namespace canary::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitMissing = 2;
inline constexpr int kExitIncompatible = 3;

int exit_code_for(Errc code);

// Prints "tool: message" on one line and returns the exit code for it.
int report_error(std::string_view tool, const Status& status);

// "canary-ctl 0.4.0 (layout 7, 1a2b3c4d5e6f)": the project version, the segment layout it reads and
// writes, and the git revision when built from a checkout.
std::string version_text(std::string_view tool);
// --version prints version_text(tool) and exits 0.
void add_version_flag(CLI::App& app, std::string_view tool);

// --segment NAME, defaulting to $CANARY_SEGMENT or "canary".
CLI::Option* add_segment_option(CLI::App& app, std::string& name);

// Parses argv; on --help prints help and returns 0, on a parse error prints one line and returns 1.
// Returns -1 when the caller should go on.
int parse_command_line(CLI::App& app, int argc, char** argv);

// "canary-ctl set-percentage by alice (pid 4242)".
std::string who(std::string_view action);

// "a,b,c" -> {"a", "b", "c"}; empty items are left out.
std::vector<std::string> split_list(const std::string& list);

// Strict unsigned parsing with a bound, for options that CLI11 would let through as hex or nan.
Expected<std::uint64_t> parse_bounded(std::string_view text, std::string_view what, std::uint64_t min,
                                      std::uint64_t max);
// A number of bytes, optionally with K, M or G (powers of 1024; KiB, MiB, GiB too), at least `min`.
Expected<std::uint64_t> parse_bytes(std::string_view text, std::string_view what, std::uint64_t min);

// A warning (log line) when a file holding a secret (a token, a password) is readable by every
// local user; `flag` names the option that gave it.
void warn_if_world_readable(const std::string& path, std::string_view flag);
// A plain decimal ("0.25", no exponent, hex or nan), and one in [0, 1].
Expected<double> parse_number(std::string_view text, std::string_view what);
Expected<double> parse_fraction(std::string_view text, std::string_view what);

}  // namespace canary::tools
