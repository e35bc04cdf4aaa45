// A server process for a test (canary-aggregator, canary-demo-server): started on a free port,
// stopped (or killed) at the end.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace canary::testing {

class ServerProcess {
 public:
  // Runs args[0] with the arguments after it. Waits for the "listening on http://HOST:PORT" line
  // it prints once it serves; `started()` is false if it exited instead (`output()` says why).
  explicit ServerProcess(std::vector<std::string> args) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);  // its own group: kill_hard() reaches the workers a server forks too
      dup2(out[1], 1);
      dup2(out[1], 2);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    fd_ = out[0];
    wait_for_output("listening on ", std::chrono::seconds(10));
    const auto at = output_.find("listening on ");
    if (at != std::string::npos) {
      const auto colon = output_.find(':', output_.find("//", at) + 2);
      port_ = std::stoi(output_.substr(colon + 1));
    }
  }
  ~ServerProcess() {
    if (pid_ > 0) kill_hard();
    if (fd_ >= 0) close(fd_);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool started() const { return port_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& output() const { return output_; }

  // Reads what the process prints until a whole line containing `text` has come, it exits, or
  // `timeout` passes. True when the line came.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto seen = [&] {
      const auto at = output_.find(text);
      return at != std::string::npos && output_.find('\n', at) != std::string::npos;
    };
    while (!seen() && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buffer[512];
      const ssize_t n = read(fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      output_.append(buffer, static_cast<std::size_t>(n));
    }
    return seen();
  }

  // SIGTERM, then the exit status.
  int stop() {
    kill(pid_, SIGTERM);
    return reap();
  }
  void kill_hard() {
    kill(-pid_, SIGKILL);
    reap();
  }
  // For a process that exits on its own (bad flags): its exit status.
  int wait_exit() { return reap(); }

 private:
  int reap() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int port_ = 0;
  std::string output_;
};

#ifdef CANARY_AGGREGATOR_PATH
// canary-aggregator with --segment, --listen 127.0.0.1:0 and `extra`.
class AggregatorProcess : public ServerProcess {
 public:
  AggregatorProcess(const std::string& segment, std::vector<std::string> extra)
      : ServerProcess(with(segment, std::move(extra))) {}

 private:
  static std::vector<std::string> with(const std::string& segment, std::vector<std::string> extra) {
    std::vector<std::string> args = {CANARY_AGGREGATOR_PATH, "--segment", segment, "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
};
#endif

}  // namespace canary::testing
