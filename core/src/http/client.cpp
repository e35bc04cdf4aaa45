// SPDX-License-Identifier: Apache-2.0
#include "canary/http/client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <charconv>
#include <optional>
#include <type_traits>

namespace canary::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

std::optional<Url> parse_url(std::string_view rest) {
  Url u;
  if (rest.rfind("https://", 0) == 0) {
    u.tls = true;
    rest.remove_prefix(8);
  } else if (rest.rfind("http://", 0) == 0) {
    rest.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority, port;
  if (authority.front() == '[') {  // [::1]:8080
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  unsigned number = 0;
  if (!port.empty() && (std::from_chars(port.data(), port.data() + port.size(), number).ptr != port.data() + port.size() ||
                        number == 0 || number > 65535))
    return std::nullopt;
  if (host.empty()) return std::nullopt;
  u.host = std::string(host);
  u.port = port.empty() ? (u.tls ? "443" : "80") : std::string(port);
  return u;
}

// Connect, (handshake,) write, read: each step asynchronous under the stream's one deadline, run
// to the end by the caller's io_context. Returns the first error and the step it happened in.
template <class Stream>
beast::error_code exchange(asio::io_context& ioc, Stream& stream, const tcp::resolver::results_type& endpoints,
                           std::chrono::steady_clock::time_point deadline, bhttp::request<bhttp::string_body>& request,
                           bhttp::response_parser<bhttp::string_body>& parser, const char*& step, bool header_only,
                            beast::flat_buffer& buffer) {
  constexpr bool kTls = std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>;
  beast::tcp_stream& tcp = beast::get_lowest_layer(stream);
  beast::error_code result;
  auto failed = [&](const char* what, const beast::error_code& ec) {
    step = what;
    result = ec;
  };
  auto read = [&] {
    tcp.expires_at(deadline);
    auto done = [&](const beast::error_code& ec, std::size_t) {
      if (ec) failed("reading the answer from", ec);
    };
    if (header_only)
      bhttp::async_read_header(stream, buffer, parser, done);
    else
      bhttp::async_read(stream, buffer, parser, done);
  };
  auto write = [&] {
    tcp.expires_at(deadline);
    bhttp::async_write(stream, request, [&](const beast::error_code& ec, std::size_t) {
      if (ec) return failed("sending to", ec);
      read();
    });
  };
  tcp.expires_at(deadline);
  tcp.async_connect(endpoints, [&](const beast::error_code& ec, const tcp::endpoint&) {
    if (ec) return failed("connecting to", ec);
    if constexpr (kTls) {
      tcp.expires_at(deadline);
      stream.async_handshake(asio::ssl::stream_base::client, [&](const beast::error_code& e) {
        if (e) return failed("the TLS handshake with", e);
        write();
      });
    } else {
      write();
    }
  });
  ioc.run();
  return result;
}


// Resolves, connects and sends `r`, reads the answer (its header only, with `header_only`), then
// hands the open stream and its parser to `then`. Errors name the step and the peer.
template <class Then>
Status exchange_and(const ClientRequest& r, bool header_only, Then&& then) {
  const auto url = parse_url(r.url);
  if (!url) return Status{Errc::invalid_argument, "'" + r.url.substr(0, 200) + "' is not an http:// or https:// URL"};
  const bhttp::verb verb = bhttp::string_to_verb(r.method);
  if (verb == bhttp::verb::unknown) return Status{Errc::invalid_argument, "'" + r.method + "' is not an HTTP method"};
  const auto deadline = std::chrono::steady_clock::now() + r.timeout;
  const std::string where = url->host + ":" + url->port;

  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(url->host, url->port, ec);
  if (ec) return Status{Errc::system, "cannot resolve " + url->host + ": " + ec.message()};

  bhttp::request<bhttp::string_body> request(verb, url->target, 11);
  request.set(bhttp::field::host, url->host);
  request.set(bhttp::field::user_agent, "canary-shm");
  for (const auto& [k, v] : r.headers) request.set(k, v);
  if (!r.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put) {
    request.set(bhttp::field::content_type, r.content_type);
    request.body() = r.body;
  }
  request.keep_alive(false);
  request.prepare_payload();
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(header_only ? boost::none : boost::optional<std::uint64_t>(r.max_response_bytes));

  const char* step = "";
  beast::flat_buffer buffer;  // what was read past the header stays here for `then`
  auto finish = [&](auto& stream) -> Status {
    ec = exchange(ioc, stream, endpoints, deadline, request, parser, step, header_only, buffer);
    if (ec) {
      const std::string why = ec == beast::error::timeout ? "timed out after " + std::to_string(r.timeout.count()) + " ms" : ec.message();
      return Status{Errc::system, std::string(step) + " " + where + " failed: " + why};
    }
    return then(ioc, stream, parser, buffer, where);
  };
  if (url->tls) {
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.set_verify_mode(asio::ssl::verify_peer);
    if (r.ca_file.empty())
      tls.set_default_verify_paths(ec);
    else
      tls.load_verify_file(r.ca_file, ec);
    if (ec) return Status{Errc::invalid_argument, "cannot load the trusted certificates: " + ec.message()};
    if (!r.cert_file.empty()) {
      tls.use_certificate_chain_file(r.cert_file, ec);
      if (!ec) tls.use_private_key_file(r.key_file, asio::ssl::context::pem, ec);
      if (ec) return Status{Errc::invalid_argument, "cannot load the client certificate: " + ec.message()};
    }
    beast::ssl_stream<beast::tcp_stream> stream(ioc, tls);
    // SNI, and the certificate must name the host.
    SSL_set_tlsext_host_name(stream.native_handle(), url->host.c_str());
    stream.set_verify_callback(asio::ssl::host_name_verification(url->host));
    return finish(stream);
  }
  beast::tcp_stream stream(ioc);
  return finish(stream);
}

}  // namespace

Expected<ClientResponse> fetch(const ClientRequest& r) {
  ClientResponse out;
  Status s = exchange_and(r, false, [&](asio::io_context&, auto&, auto& parser, beast::flat_buffer&, const std::string&) {
    out.status = static_cast<int>(parser.get().result_int());
    for (const auto& f : parser.get()) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(parser.get().body());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

namespace {

// One request of fetch_many: connect, write, read, each step's handler starting the next.
struct Session : std::enable_shared_from_this<Session> {
  Session(asio::io_context& ioc, const ClientRequest& r, Url u) : request(&r), url(std::move(u)), stream(ioc) {}
  const ClientRequest* request;
  Url url;
  beast::tcp_stream stream;
  bhttp::request<bhttp::string_body> message;
  bhttp::response_parser<bhttp::string_body> parser;
  beast::flat_buffer buffer;
  std::function<void(Expected<ClientResponse>)> done;

  void fail(const char* step, const beast::error_code& ec) {
    const std::string why = ec == beast::error::timeout ? "timed out after " + std::to_string(request->timeout.count()) + " ms" : ec.message();
    done(Status{Errc::system, std::string(step) + " " + url.host + ":" + url.port + " failed: " + why});
  }
  void start(const tcp::resolver::results_type& endpoints) {
    message = bhttp::request<bhttp::string_body>(bhttp::string_to_verb(request->method), url.target, 11);
    message.set(bhttp::field::host, url.host);
    message.set(bhttp::field::user_agent, "canary-shm");
    for (const auto& [k, v] : request->headers) message.set(k, v);
    if (!request->body.empty()) {
      message.set(bhttp::field::content_type, request->content_type);
      message.body() = request->body;
    }
    message.keep_alive(false);
    message.prepare_payload();
    parser.body_limit(request->max_response_bytes);
    stream.expires_after(request->timeout);  // one deadline for the whole exchange
    auto self = shared_from_this();
    stream.async_connect(endpoints, [self](const beast::error_code& ec, const tcp::endpoint&) {
      if (ec) return self->fail("connecting to", ec);
      bhttp::async_write(self->stream, self->message, [self](const beast::error_code& e, std::size_t) {
        if (e) return self->fail("sending to", e);
        bhttp::async_read(self->stream, self->buffer, self->parser, [self](const beast::error_code& e2, std::size_t) {
          if (e2) return self->fail("reading the answer from", e2);
          ClientResponse out;
          out.status = static_cast<int>(self->parser.get().result_int());
          for (const auto& f : self->parser.get()) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
          out.body = std::move(self->parser.get().body());
          beast::error_code ignored;
          self->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
          self->done(std::move(out));
        });
      });
    });
  }
};

}  // namespace

std::vector<Expected<ClientResponse>> fetch_many(const std::vector<ClientRequest>& requests, std::size_t concurrency) {
  std::vector<std::optional<Expected<ClientResponse>>> answers(requests.size());
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  std::size_t next = 0;
  std::function<void()> start_next = [&] {
    while (next < requests.size()) {
      const std::size_t i = next++;
      const ClientRequest& r = requests[i];
      auto url = parse_url(r.url);
      if (!url || bhttp::string_to_verb(r.method) == bhttp::verb::unknown || url->tls) {
        answers[i] = fetch(r);  // says what is wrong with it, or does https the plain way
        continue;
      }
      beast::error_code ec;
      const auto endpoints = resolver.resolve(url->host, url->port, ec);
      if (ec) {
        answers[i] = Status{Errc::system, "cannot resolve " + url->host + ": " + ec.message()};
        continue;
      }
      auto session = std::make_shared<Session>(ioc, r, std::move(*url));
      session->done = [&, i](Expected<ClientResponse> answer) {
        answers[i] = std::move(answer);
        asio::post(ioc, [&] { start_next(); });
      };
      session->start(endpoints);
      return;
    }
  };
  for (std::size_t k = 0; k < std::max<std::size_t>(1, concurrency); ++k) start_next();
  ioc.run();
  std::vector<Expected<ClientResponse>> out;
  out.reserve(answers.size());
  for (auto& a : answers) out.push_back(a ? std::move(*a) : Expected<ClientResponse>(Status{Errc::system, "not sent"}));
  return out;
}

Expected<int> stream(const ClientRequest& r, const std::function<bool(std::string_view)>& on_body,
                     const std::atomic<bool>& stop) {
  int code = 0;
  Status s = exchange_and(r, true, [&](asio::io_context& ioc, auto& stream, auto& parser, beast::flat_buffer& buffer,
                                   const std::string& where) {
    code = static_cast<int>(parser.get().result_int());
    beast::get_lowest_layer(stream).expires_never();
    bool more = true;
    beast::error_code failure;
    std::string error_body;
    while (more && !parser.is_done()) {
      bool done = false;
      ioc.restart();
      bhttp::async_read_some(stream, buffer, parser, [&](const beast::error_code& ec, std::size_t) {
        done = true;
        failure = ec;
      });
      // The read has no deadline (a watch may stay quiet for hours); `stop` is looked at between slices.
      while (!done) {
        ioc.run_for(std::chrono::milliseconds(100));
        if (!done && stop.load(std::memory_order_relaxed)) {
          beast::get_lowest_layer(stream).cancel();
          ioc.run();
          return Status::Ok();
        }
      }
      std::string& body = parser.get().body();
      if (code / 100 != 2) {
        error_body += body;
      } else if (!body.empty()) {
        more = on_body(body);
      }
      body.clear();
      if (failure && failure != bhttp::error::need_buffer) break;
    }
    if (code / 100 != 2) return Status{Errc::refused, where + " answered " + std::to_string(code) + ": " + error_body.substr(0, 300)};
    if (failure && failure != bhttp::error::need_buffer && failure != bhttp::error::end_of_stream && failure != asio::error::eof)
      return Status{Errc::system, "reading the stream from " + where + " failed: " + failure.message()};
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return code;
}

}  // namespace canary::http
