// SPDX-License-Identifier: Apache-2.0
// Runs one of the built command-line tools and captures what it printed.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace canary::testing {

struct ToolResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Reads stdout and stderr as they come (a child writing more than a pipe holds must not block),
// then reaps the child.
inline ToolResult run_tool(const std::string& path, const std::vector<std::string>& args) {
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]), close(err[0]), close(out[1]), close(err[1]);
    std::vector<char*> argv{const_cast<char*>(path.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]), close(err[1]);
  ToolResult r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[65536];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// The value of the "KEY: value" line that `canary-ctl status` printed; empty when there is none.
inline std::string status_value(const std::string& status_out, const std::string& key) {
  const auto at = status_out.find("\n" + key + ": ");
  if (at == std::string::npos) return "";
  const auto start = at + key.size() + 3;
  return status_out.substr(start, status_out.find('\n', start) - start);
}

// What `canary-ctl route` names for each user on a path (none: is_canary_user), in one run of the
// tool: a line per user.
inline std::vector<std::string> route_users(const std::string& ctl_path, const std::string& segment,
                                            const std::vector<std::string>& users, const std::string& path) {
  std::vector<std::string> args{"--segment", segment, "route"};
  if (!path.empty()) args.insert(args.end(), {"--path", path});
  for (const std::string& u : users) args.insert(args.end(), {"--user", u});
  const ToolResult r = run_tool(ctl_path, args);
  std::vector<std::string> lines;
  for (std::size_t at = 0, end; (end = r.out.find('\n', at)) != std::string::npos; at = end + 1) lines.push_back(r.out.substr(at, end - at));
  return lines;
}

inline int count_lines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

}  // namespace canary::testing
