// SPDX-License-Identifier: Apache-2.0
// A small blocking HTTP/1.1 client (Boost.Beast) for the project's outgoing calls: webhooks now,
// etcd's JSON gateway later. One request per call, over http:// or https:// (the peer's
// certificate is verified against the system's trust store, with the host name), with one
// deadline for the whole exchange: connect, TLS handshake, write and read.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "canary/http/message.hpp"
#include "canary/status.hpp"

namespace canary::http {

struct ClientResponse {
  int status = 0;
  Fields headers;
  std::string body;
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // http://host[:port]/path?query or https://...
  Fields headers;
  std::string body;
  std::string content_type = "application/json";  // sent with a body
  std::chrono::milliseconds timeout{5000};
  std::size_t max_response_bytes = 8 * 1024 * 1024;
  std::string ca_file;  // https: trust this PEM bundle instead of the system's
  std::string cert_file, key_file;  // https: a client certificate and its key (PEM), when the peer asks
};

// A response of any status; an Errc::system status when there was none (refused, timed out, TLS
// failure), and Errc::invalid_argument for a URL it cannot use.
Expected<ClientResponse> fetch(const ClientRequest& request);

// Many requests at once on one thread (the fleet controller pulling every host): at most
// `concurrency` in flight, each with its own deadline; answers in the order asked. https:// ones
// are sent one after the other.
std::vector<Expected<ClientResponse>> fetch_many(const std::vector<ClientRequest>& requests, std::size_t concurrency);

// A response whose body never ends by itself (etcd's watch): request.timeout bounds the connect,
// the request and the response's header; then every piece of the body goes to `on_body` as it
// arrives, with no deadline, until the peer closes, `on_body` returns false, or `stop` turns true
// (looked at every 100 ms). Returns the status line's code; a non-2xx answer's body is returned
// whole in the error.
Expected<int> stream(const ClientRequest& request, const std::function<bool(std::string_view)>& on_body,
                     const std::atomic<bool>& stop);

}  // namespace canary::http
