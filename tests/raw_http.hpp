// SPDX-License-Identifier: Apache-2.0
// HTTP spoken by hand over a TCP socket, for tests that misbehave on purpose: half-sent heads,
// idle keep-alive connections, framing a polite client library would never produce.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace canary::testing {

// A connected socket to 127.0.0.1:port, or -1.
inline int connect_local(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline bool send_text(int fd, const std::string& text) {
  std::size_t sent = 0;
  while (sent < text.size()) {
    const ssize_t n = send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

struct RawResponse {
  int status = 0;       // 0: no (complete) head came
  std::string text;     // everything read
  bool closed = false;  // the server closed the connection
};

// Reads until a whole response (head plus Content-Length bytes) came, the server closed, or the
// timeout passed. With `then_wait_close`, keeps reading afterwards until the server closes.
inline RawResponse read_response(int fd, std::chrono::milliseconds timeout, bool then_wait_close = false) {
  RawResponse r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto complete = [&] {
    const auto end = r.text.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    const auto cl = r.text.find("Content-Length: ");
    const std::size_t length = cl != std::string::npos && cl < end ? std::stoul(r.text.substr(cl + 16)) : 0;
    return r.text.size() >= end + 4 + length;
  };
  while (std::chrono::steady_clock::now() < deadline) {
    if (complete() && !then_wait_close) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) continue;
    char buffer[65536];
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      r.closed = true;
      break;
    }
    r.text.append(buffer, static_cast<std::size_t>(n));
  }
  if (r.text.rfind("HTTP/1.1 ", 0) == 0 && complete()) r.status = std::stoi(r.text.substr(9, 3));
  return r;
}

// One GET over a fresh connection; the status, or 0. `elapsed` gets the round trip.
inline int timed_get(int port, const std::string& path, std::chrono::milliseconds& elapsed) {
  const auto start = std::chrono::steady_clock::now();
  const int fd = connect_local(port);
  int status = 0;
  if (fd >= 0 && send_text(fd, "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
    status = read_response(fd, std::chrono::seconds(10)).status;
  if (fd >= 0) close(fd);
  elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  return status;
}

// The body of a GET over a fresh connection ("" when none came).
inline std::string get_body(int port, const std::string& path) {
  const int fd = connect_local(port);
  send_text(fd, "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  const RawResponse r = read_response(fd, std::chrono::seconds(5));
  if (fd >= 0) close(fd);
  const auto head_end = r.text.find("\r\n\r\n");
  return head_end == std::string::npos ? std::string() : r.text.substr(head_end + 4);
}

// Polls `condition` every 50 ms until it holds or `timeout` passes; its last answer.
template <class Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    usleep(50'000);
  }
  return condition();
}

}  // namespace canary::testing
