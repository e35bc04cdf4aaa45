// SPDX-License-Identifier: Apache-2.0
// A server process for a test (canary-aggregator, canary-demo-server): started on a free port,
// stopped (or killed) at the end.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
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
    // Read what it prints all the time: a process whose log fills the pipe would block on it.
    reader_ = std::thread([this] {
      char buffer[4096];
      while (!closing_.load()) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        const ssize_t n = read(fd_, buffer, sizeof buffer);
        if (n <= 0) {
          ended_.store(true);  // every writer of the pipe is gone
          break;
        }
        std::lock_guard lock(mutex_);
        output_.append(buffer, static_cast<std::size_t>(n));
      }
    });
    wait_for_output("listening on ", std::chrono::seconds(10));
    const std::string out_now = output();
    const auto at = out_now.find("listening on ");
    if (at != std::string::npos) {
      const auto colon = out_now.find(':', out_now.find("//", at) + 2);
      port_ = std::stoi(out_now.substr(colon + 1));
    }
  }
  ~ServerProcess() {
    if (pid_ > 0) kill_hard();
    closing_.store(true);
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) close(fd_);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool started() const { return port_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string output() const {
    std::lock_guard lock(mutex_);
    return output_;
  }

  // Waits until a whole line containing `text` has been printed, or `timeout` passes. True when
  // the line came.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto seen = [&] {
      std::lock_guard lock(mutex_);
      const auto at = output_.find(text);
      return at != std::string::npos && output_.find('\n', at) != std::string::npos;
    };
    while (!seen() && !ended_.load() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
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
  // Waits for the exit, at most 20 s: a process that hangs is killed (and its status says so)
  // rather than hanging the test.
  int reap() {
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(-pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    // What it printed last, before it exited, is in the pipe: wait until the reader has it all.
    // A child of it that still holds the pipe (a demo worker) is killed with the group later.
    for (int i = 0; i < 50 && !reader_done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  bool reader_done() {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 0) == 0;  // nothing left unread
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::string output_;
  std::atomic<bool> closing_{false};
  std::atomic<bool> ended_{false};
  std::thread reader_;
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
