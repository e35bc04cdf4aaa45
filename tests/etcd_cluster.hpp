// SPDX-License-Identifier: Apache-2.0
// A real etcd cluster (Debian's etcd-server) for the fleet tests: 1, 3 or 5 members on loopback
// ports, each its own process and data directory, with heartbeat and election timeouts raised so
// that a loaded 2-core machine does not make it elect leaders all the time. Members can be killed
// (SIGKILL) and started again with their data; the destructor stops them all.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "canary/http/client.hpp"
#include "free_port.hpp"

namespace canary::testing {

class EtcdCluster {
 public:
  EtcdCluster(const std::string& dir, int members) : dir_(dir) {
    for (int i = 0; i < members; ++i) members_.push_back({free_port(), free_port(), -1});
    for (int i = 0; i < members; ++i) start(i);
  }
  ~EtcdCluster() {
    for (std::size_t i = 0; i < members_.size(); ++i) kill(static_cast<int>(i));
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  std::string client_url(int i) const { return "http://127.0.0.1:" + std::to_string(members_[i].client_port); }
  // Every member's client URL, comma-separated (what --etcd takes).
  std::string endpoints() const {
    std::string out;
    for (std::size_t i = 0; i < members_.size(); ++i) out += (i ? "," : "") + client_url(static_cast<int>(i));
    return out;
  }
  int size() const { return static_cast<int>(members_.size()); }

  // Starts member i (again, with its data directory as it was).
  void start(int i) {
    Member& m = members_[i];
    std::string cluster;
    for (std::size_t j = 0; j < members_.size(); ++j)
      cluster += (j ? "," : "") + name(static_cast<int>(j)) + "=http://127.0.0.1:" + std::to_string(members_[j].peer_port);
    const std::string log = dir_ + "/" + name(i) + ".log";
    std::vector<std::string> args = {
        "/usr/bin/etcd", "--name", name(i), "--data-dir", dir_ + "/" + name(i),
        "--listen-client-urls", client_url(i), "--advertise-client-urls", client_url(i),
        "--listen-peer-urls", "http://127.0.0.1:" + std::to_string(m.peer_port),
        "--initial-advertise-peer-urls", "http://127.0.0.1:" + std::to_string(m.peer_port),
        "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "canary-test",
        // A loaded 2-core machine stalls processes for hundreds of milliseconds: the defaults
        // (100 ms, 1 s) would elect leaders over and over.
        "--heartbeat-interval", "250", "--election-timeout", "2500", "--logger", "zap", "--log-level", "warn"};
    m.pid = fork();
    if (m.pid == 0) {
      setpgid(0, 0);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }

  void kill(int i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    waitpid(m.pid, nullptr, 0);
    m.pid = -1;
  }

  // True once every running member answers a read through the cluster (a leader exists).
  bool wait_ready(std::chrono::seconds timeout = std::chrono::seconds(30)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (std::size_t i = 0; i < members_.size() && all; ++i) {
        if (members_[i].pid <= 0) continue;
        http::ClientRequest r;
        r.method = "POST";
        r.url = client_url(static_cast<int>(i)) + "/v3/kv/range";
        r.body = R"({"key":"AA=="})";
        r.timeout = std::chrono::milliseconds(1000);
        auto answer = http::fetch(r);
        all = answer && answer->status == 200;
      }
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

 private:
  struct Member {
    int client_port, peer_port;
    pid_t pid;
  };
  static std::string name(int i) { return "m" + std::to_string(i); }

  std::string dir_;
  std::vector<Member> members_;
};

}  // namespace canary::testing
