// SPDX-License-Identifier: Apache-2.0
// The HTTP/1.1 server behind the admin API and the demo service (Boost.Beast, asynchronous; see
// docs/design.md for why). Built for clients that cannot be trusted to behave:
//
//  - no thread waits on a socket: a thousand idle keep-alive connections, or clients that send a
//    byte a second, cost memory and a descriptor each, and never delay another client;
//  - the request head is limited (64 KiB, 100 fields; 431 beyond) and so is the body (64 KiB;
//    413), so no request grows the process by more than that; the heads every connection has
//    buffered and not finished are limited together (`max_buffered_head_bytes`; 503 and closed
//    beyond), so thousands of half-sent heads cannot grow it either; a connection's buffer shrinks
//    back after each request, and memory freed in bulk goes back to the system (malloc_trim);
//  - a head line continued on the next (obs-fold, RFC 9112 section 5.2) is refused with 400,
//    never unfolded: a proxy in front could read the field differently;
//  - framing that two parsers could read differently is refused with 400 and the connection
//    closed: conflicting Content-Length values, Transfer-Encoding with Content-Length (or without
//    chunked), a bad chunk;
//  - a request must arrive within `request_timeout` (slow-loris), a keep-alive connection may idle
//    for `keep_alive_timeout`, and past `max_connections` the oldest connection is closed;
//  - the listening address is never shared (no SO_REUSEPORT): a second server on an address in use
//    fails to start.
//
// Handlers run on the server's threads, one request of a connection at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "canary/http/message.hpp"
#include "canary/status.hpp"

namespace canary::http {

using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                   // 0: any free port (Server::port() tells which)
  std::string tls_cert, tls_key;  // both, or neither: HTTPS with this PEM certificate and key
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_header_fields = 100;
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_buffered_head_bytes = 16 * 1024 * 1024;  // every connection's unfinished head together
  std::chrono::milliseconds request_timeout{10'000};     // a whole request (head and body), and a TLS handshake
  std::chrono::milliseconds keep_alive_timeout{30'000};  // between requests on one connection
  std::size_t max_connections = 4096;
  unsigned threads = 2;
};

class Server {
 public:
  // Binds host:port and serves. Errc::busy when the address is in use.
  static Expected<std::unique_ptr<Server>> listen(const ServerOptions& options, Handler handler);
  // Serves a socket that already listens (a pre-forked worker's share of its master's socket).
  static Expected<std::unique_ptr<Server>> adopt(int listening_fd, const ServerOptions& options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  std::size_t connections() const;
  // What the connections hold on the heap: their buffers, and their own state at its measured size
  // (docs/aggregator.md's sizing table).
  std::size_t heap_bytes() const;
  // Closes the listener and every connection, waits for running handlers, and returns; no handler
  // runs after it.
  void stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A JSON error body, {"error": message} (and "field" when given), as every 4xx of the project has.
Response error_response(int status, const std::string& message, const std::string& field = "");

}  // namespace canary::http
