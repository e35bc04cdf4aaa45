// A small blocking HTTP/1.1 client (Boost.Beast) for the project's outgoing calls: webhooks now,
// etcd's JSON gateway later. One request per call, over http:// or https:// (the peer's
// certificate is verified against the system's trust store, with the host name), with one
// deadline for the whole exchange: connect, TLS handshake, write and read.
#pragma once

#include <chrono>
#include <string>

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
};

// A response of any status; an Errc::system status when there was none (refused, timed out, TLS
// failure), and Errc::invalid_argument for a URL it cannot use.
Expected<ClientResponse> fetch(const ClientRequest& request);

}  // namespace canary::http
