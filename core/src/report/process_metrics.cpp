// SPDX-License-Identifier: Apache-2.0
#include "canary/report/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <vector>

#include "canary/build_info.hpp"
#include "canary/layout.hpp"

namespace canary::report {

namespace {

struct ProcessFigures {
  double cpu_seconds = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  double resident_bytes = 0;
  double virtual_bytes = 0;
};

// /proc/self/stat: fields after the command name (which may hold spaces, so read from the last
// ')'). utime, stime (14, 15) and starttime (22) are in clock ticks, vsize (23) in bytes, rss
// (24) in pages.
bool read_stat(ProcessFigures& f) {
  std::ifstream in("/proc/self/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::vector<std::string> v{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
  // v[0] is field 3 (state): field N is v[N - 3].
  if (v.size() < 22) return false;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  f.cpu_seconds = (std::stod(v[11]) + std::stod(v[12])) / ticks;
  f.virtual_bytes = std::stod(v[20]);
  f.resident_bytes = std::stod(v[21]) * page;
  // starttime is since boot: add the boot time from /proc/stat's btime.
  std::ifstream stat("/proc/stat");
  for (std::string line; std::getline(stat, line);)
    if (line.rfind("btime ", 0) == 0) f.start_time_seconds = std::stod(line.substr(6)) + std::stod(v[19]) / ticks;
  return true;
}

std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (const dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
    if (n > 0) --n;  // the directory stream's own descriptor
  }
  return n;
}

void gauge(std::ostringstream& out, std::string_view name, std::string_view type, std::string_view help, double value) {
  char text[64];
  const auto written = std::to_chars(text, text + sizeof text, value);  // the shortest text that reads back the same
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' '
      << std::string_view(text, static_cast<std::size_t>(written.ptr - text)) << '\n';
}

}  // namespace

std::string build_and_process_metrics() {
  std::ostringstream out;
  out << "# HELP canary_build_info The build: project version, git revision and segment layout (always 1).\n"
      << "# TYPE canary_build_info gauge\n"
      << "canary_build_info{version=\"" << build_version() << "\",revision=\"" << build_revision() << "\",layout=\""
      << kLayoutVersion << "\"} 1\n";
  ProcessFigures f;
  // Read failures (no /proc) leave the process families out rather than report zeros.
  try {
    if (!read_stat(f)) return out.str();
  } catch (const std::exception&) {
    return out.str();
  }
  gauge(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", f.cpu_seconds);
  gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", f.resident_bytes);
  gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", f.virtual_bytes);
  gauge(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
        f.start_time_seconds);
  gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.", static_cast<double>(open_fds()));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
    gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.", static_cast<double>(limit.rlim_cur));
  return out.str();
}

}  // namespace canary::report
