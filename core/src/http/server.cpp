// SPDX-License-Identifier: Apache-2.0
#include "canary/http/server.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "canary/log.hpp"

namespace canary::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

class Session;

// What one connection costs besides its buffer (the session, its socket's and parser's state, the
// timers): 3.8 KiB idle after a request, measured by bench/memory_bench.cpp (BM_HttpConnectionHeap).
constexpr std::size_t kConnectionBytes = 3900;

struct Server::Impl {
  // Declared before the io_context, so destroyed after it: the connections it still holds when it
  // goes unregister themselves from `sessions` and use the TLS context until then.
  ServerOptions options;
  Handler handler;
  std::optional<asio::ssl::context> tls;
  // Every open connection, oldest first, so that the oldest can be closed when there are too many.
  std::mutex sessions_mutex;
  std::list<std::weak_ptr<Session>> sessions;
  std::atomic<bool> stopped{false};
  std::atomic<unsigned> running{0};  // threads inside ioc.run()
  int port = 0;
  // Bytes of the connections' buffers while they read a head, against max_buffered_head_bytes; and
  // bytes given back since the last malloc_trim. Relaxed: counters, nothing is published with them.
  std::atomic<std::size_t> head_bytes{0};
  std::atomic<std::size_t> released_since_trim{0};

  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  asio::steady_timer trim_timer{ioc};
  std::vector<std::thread> threads;

  bool reserve_head(std::size_t bytes) {
    if (head_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes <= options.max_buffered_head_bytes) return true;
    head_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    return false;
  }
  void release_head(std::size_t bytes) {
    head_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    released_since_trim.fetch_add(bytes, std::memory_order_relaxed);
  }
  void trim_now_and_then();
  void accept();
  void on_accept(const beast::error_code& ec, tcp::socket socket);
  void forget(std::list<std::weak_ptr<Session>>::iterator where) {
    std::lock_guard lock(sessions_mutex);
    sessions.erase(where);
  }
};

Response error_response(int status, const std::string& message, const std::string& field) {
  nlohmann::json body = {{"error", message}};
  if (!field.empty()) body["field"] = field;
  return {status, "application/json", body.dump(2) + "\n", {}};
}

// One connection. Everything it does runs on its strand; close() may be called from any thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, tcp::socket socket) : server_(server), remote_(remote_of(socket)) {
    if (server.tls)
      tls_stream_.emplace(std::move(socket), *server.tls);
    else
      plain_stream_.emplace(std::move(socket));
  }
  ~Session() {
    server_.release_head(head_reserved_);
    server_.released_since_trim.fetch_add(kConnectionBytes, std::memory_order_relaxed);
    if (where_) server_.forget(*where_);
  }

  void start(std::list<std::weak_ptr<Session>>::iterator where) {
    where_ = where;
    asio::dispatch(executor(), [self = shared_from_this()] { self->begin(); });
  }

  void close() {
    asio::post(executor(), [self = shared_from_this()] { self->close_now(); });
  }

 private:
  static std::string remote_of(const tcp::socket& s) {
    beast::error_code ec;
    const auto endpoint = s.remote_endpoint(ec);
    return ec ? std::string("?") : endpoint.address().to_string();
  }

  beast::tcp_stream& lowest() { return tls_stream_ ? beast::get_lowest_layer(*tls_stream_) : *plain_stream_; }
  asio::any_io_executor executor() { return lowest().get_executor(); }

  void begin() {
    if (server_.stopped.load()) return close_now();  // accepted while stop() ran
    beast::error_code ec;
    lowest().socket().set_option(tcp::no_delay(true), ec);
    if (!tls_stream_) return read_request();
    lowest().expires_after(server_.options.request_timeout);
    tls_stream_->async_handshake(asio::ssl::stream_base::server,
                                 [self = shared_from_this()](const beast::error_code& e) {
                                   if (e) return self->close_now();
                                   self->read_request();
                                 });
  }

  template <class Operation>
  void on_stream(Operation&& op) {
    if (tls_stream_)
      op(*tls_stream_);
    else
      op(*plain_stream_);
  }

  void read_request() {
    const ServerOptions& o = server_.options;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(o.max_header_bytes));
    parser_->body_limit(o.max_body_bytes);
    // The last request may have grown the buffer (a body): a connection that waits keeps little.
    if (buffer_.capacity() > kIdleBufferBytes && buffer_.size() <= kIdleBufferBytes) {
      buffer_.shrink_to_fit();
      account_buffer();
    }
    scanned_ = 0;
    // The whole head must come within the timeout, however slowly its bytes trickle in.
    lowest().expires_after(first_ ? o.request_timeout : o.keep_alive_timeout);
    read_head();
  }

  // Reads until the buffer holds a whole head, a little more each time, within the server's budget
  // for unfinished heads; then checks it for obs-fold and lets Beast parse it (from the buffer: it
  // reads nothing more for the head).
  void read_head() {
    const ServerOptions& o = server_.options;
    if (const std::size_t end = head_end(); end != 0) {
      if (has_obs_fold(end))
        return refuse(400, "malformed request: a header line continued on the next (obs-fold) is not accepted");
      on_stream([&](auto& stream) {
        bhttp::async_read_header(stream, buffer_, *parser_, [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
          self->on_header(ec);
        });
      });
      return;
    }
    const std::size_t have = buffer_.size();
    if (have >= o.max_header_bytes)
      return refuse(431, "the request head is larger than " + std::to_string(o.max_header_bytes / 1024) + " KiB");
    // Twice what came so far, at least 1 KiB: a trickling client holds a small buffer.
    const std::size_t want = std::min(o.max_header_bytes + 4 - have, std::max<std::size_t>(1024, have));
    auto space = buffer_.prepare(want);
    if (!account_buffer())
      return refuse(503, "the server holds as many unfinished request heads as it allows; try again");
    on_stream([&](auto& stream) {
      stream.async_read_some(space, [self = shared_from_this()](const beast::error_code& ec, std::size_t n) {
        self->buffer_.commit(n);
        if (ec) return is_disconnect(ec) || ec == asio::error::eof ? self->close_now() : self->refuse(400, "malformed request: " + ec.message());
        self->read_head();
      });
    });
  }

  // The offset just past the head's empty line in the buffer, or 0 while it has not come.
  std::size_t head_end() {
    const auto* data = static_cast<const char*>(buffer_.data().data());
    const std::string_view text(data, buffer_.size());
    const std::size_t found = text.find("\r\n\r\n", scanned_);
    if (found != std::string_view::npos) return found + 4;
    scanned_ = text.size() > 3 ? text.size() - 3 : 0;  // the next search starts where this one could not
    return 0;
  }

  bool has_obs_fold(std::size_t head_end) const {
    const std::string_view head(static_cast<const char*>(buffer_.data().data()), head_end);
    return head.find("\n ") != std::string_view::npos || head.find("\n\t") != std::string_view::npos;
  }

  // Brings the server's count of head bytes to this buffer's capacity; false (and nothing counted)
  // when that growth would pass the budget.
  bool account_buffer() {
    const std::size_t capacity = buffer_.capacity();
    if (capacity > head_reserved_) {
      if (!server_.reserve_head(capacity - head_reserved_)) return false;
    } else {
      server_.release_head(head_reserved_ - capacity);
    }
    head_reserved_ = capacity;
    return true;
  }

  void on_header(const beast::error_code& ec) {
    // A Content-Length over the limit is refused as soon as the head is read.
    if (ec == bhttp::error::body_limit) return too_large();
    if (ec == bhttp::error::header_limit)
      return refuse(431, "the request head is larger than " + std::to_string(server_.options.max_header_bytes / 1024) + " KiB");
    if (ec) return ec == bhttp::error::end_of_stream || is_disconnect(ec) ? close_now() : refuse(400, "malformed request: " + ec.message());
    first_ = false;
    const auto& head = parser_->get();
    std::size_t fields = 0;
    std::size_t transfer_encodings = 0;
    for (const auto& f : head) {
      ++fields;
      if (f.name() == bhttp::field::transfer_encoding) ++transfer_encodings;
    }
    if (fields > server_.options.max_header_fields)
      return refuse(431, "the request has " + std::to_string(fields) + " header fields; at most " +
                             std::to_string(server_.options.max_header_fields) + " are allowed");
    // Beast accepts a Transfer-Encoding that does not end in chunked (then reads no body) and one
    // that comes before a Content-Length: a proxy in front could frame either differently.
    if (transfer_encodings > 0 && (!parser_->chunked() || head.count(bhttp::field::content_length) > 0))
      return refuse(400, "malformed request: Transfer-Encoding must be chunked alone, without Content-Length");
    // The rest of the request within the same deadline.
    lowest().expires_after(server_.options.request_timeout);
    on_stream([&](auto& stream) {
      bhttp::async_read(stream, buffer_, *parser_, [self = shared_from_this()](const beast::error_code& e, std::size_t) {
        self->on_body(e);
      });
    });
  }

  void too_large() { refuse(413, "the body is larger than " + std::to_string(server_.options.max_body_bytes / 1024) + " KiB"); }

  void on_body(const beast::error_code& ec) {
    if (ec == bhttp::error::body_limit) return too_large();
    if (ec) return is_disconnect(ec) ? close_now() : refuse(400, "malformed request: " + ec.message());
    if (server_.stopped.load()) return close_now();  // no handler runs once stop() began
    auto message = parser_->release();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    if (!split_target(request.target, request.path, request.query))
      return refuse(400, "malformed request: bad percent-escape in the target");
    for (const auto& f : message) request.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    request.body = std::move(message.body());
    request.remote_addr = remote_;
    Response response;
    try {
      response = server_.handler(request);
    } catch (const std::exception& e) {
      log(LogLevel::error, "http handler failed", {{"path", request.path}, {"error", e.what()}});
      response = error_response(500, "internal error");
    }
    write(std::move(response), message.keep_alive());
  }

  static bool is_disconnect(const beast::error_code& ec) {
    return ec == beast::error::timeout || ec == asio::error::operation_aborted || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated;
  }

  void refuse(int status, const std::string& why) { write(error_response(status, why), false); }

  void write(Response r, bool keep_alive) {
    response_.emplace();
    response_->version(11);
    response_->result(static_cast<unsigned>(r.status));
    response_->set(bhttp::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) response_->insert(k, v);
    response_->body() = std::move(r.body);
    response_->keep_alive(keep_alive);
    response_->prepare_payload();
    lowest().expires_after(server_.options.request_timeout);
    on_stream([&](auto& stream) {
      bhttp::async_write(stream, *response_, [self = shared_from_this(), keep_alive](const beast::error_code& ec, std::size_t) {
        if (ec || !keep_alive) return self->close_now();
        self->read_request();
      });
    });
  }

  void close_now() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

  Server::Impl& server_;
  std::string remote_;
  std::optional<beast::tcp_stream> plain_stream_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream_;
  std::optional<std::list<std::weak_ptr<Session>>::iterator> where_;
  // A buffer this size or less stays with a connection between requests.
  static constexpr std::size_t kIdleBufferBytes = 4096;

  beast::flat_buffer buffer_;
  std::size_t head_reserved_ = 0;  // of the server's head budget, this buffer's capacity
  std::size_t scanned_ = 0;        // the buffer's bytes already searched for the head's end
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  bool first_ = true;
};

// Memory freed in bulk (a burst of connections gone, a large head refused) goes back to the system:
// glibc keeps freed heap to reuse unless asked. At most once a second, and only after 4 MiB.
void Server::Impl::trim_now_and_then() {
  trim_timer.expires_after(std::chrono::seconds(1));
  trim_timer.async_wait([this](const beast::error_code& ec) {
    if (ec || stopped.load()) return;
    if (released_since_trim.load(std::memory_order_relaxed) >= 4 * 1024 * 1024) {
      released_since_trim.store(0, std::memory_order_relaxed);
      malloc_trim(0);
    }
    trim_now_and_then();
  });
}

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](const beast::error_code& ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void Server::Impl::on_accept(const beast::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || stopped.load()) return;
  if (ec) {
    // Out of descriptors (EMFILE) or a connection reset before accept: try again shortly rather
    // than stop accepting for good.
    log(LogLevel::warn, "http accept failed", {{"port", port}, {"error", ec.message()}});
    accept_retry.expires_after(std::chrono::milliseconds(50));
    accept_retry.async_wait([this](const beast::error_code& e) {
      if (!e) accept();
    });
    return;
  }
  auto session = std::make_shared<Session>(*this, std::move(socket));
  std::shared_ptr<Session> evicted;
  std::list<std::weak_ptr<Session>>::iterator where;
  {
    std::lock_guard lock(sessions_mutex);
    where = sessions.insert(sessions.end(), session);
    if (sessions.size() > options.max_connections) evicted = sessions.front().lock();
  }
  if (evicted) evicted->close();
  session->start(where);
  accept();
}

namespace {

Status tls_setup(Server::Impl& impl) {
  const ServerOptions& o = impl.options;
  if (o.tls_cert.empty() != o.tls_key.empty()) return {Errc::invalid_argument, "--tls-cert and --tls-key go together"};
  if (o.tls_cert.empty()) return Status::Ok();
  impl.tls.emplace(asio::ssl::context::tls_server);
  impl.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  beast::error_code ec;
  impl.tls->use_certificate_chain_file(o.tls_cert, ec);
  if (!ec) impl.tls->use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
  if (ec)
    return {Errc::invalid_argument,
            "cannot load the TLS certificate '" + o.tls_cert + "' and key '" + o.tls_key + "': " + ec.message()};
  return Status::Ok();
}

// Each connection needs a descriptor: raise the soft limit (towards the hard one) so that
// max_connections can be reached, as servers usually do at start.
void raise_descriptor_limit(std::size_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, wanted);
  setrlimit(RLIMIT_NOFILE, &limit);
}

Expected<std::unique_ptr<Server::Impl>> prepare(const ServerOptions& options, Handler handler) {
  auto impl = std::make_unique<Server::Impl>();
  impl->options = options;
  impl->options.threads = std::max(1u, options.threads);
  impl->handler = std::move(handler);
  if (Status s = tls_setup(*impl); !s.ok()) return s;
  raise_descriptor_limit(options.max_connections + 64);
  return impl;
}

}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->accept();
  impl_->trim_now_and_then();
  impl_->running.store(impl_->options.threads);
  for (unsigned i = 0; i < impl_->options.threads; ++i)
    impl_->threads.emplace_back([impl = impl_.get()] {
      impl->ioc.run();
      impl->running.fetch_sub(1);
    });
}

Expected<std::unique_ptr<Server>> Server::listen(const ServerOptions& options, Handler handler) {
  auto impl = prepare(options, std::move(handler));
  if (!impl) return impl.status();
  Impl& i = **impl;
  const std::string where = options.host + ":" + std::to_string(options.port);
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.host == "localhost" ? "127.0.0.1" : options.host, ec);
  if (ec) return Status{Errc::invalid_argument, "cannot listen on " + where + ": '" + options.host + "' is not an IP address"};
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  i.acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR lets a restart bind while old connections sit in TIME_WAIT; on Linux it never
  // lets two processes listen on one address (SO_REUSEPORT would, and is not set).
  if (!ec) i.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(endpoint, ec);
  if (!ec) i.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Status{ec == asio::error::address_in_use ? Errc::busy : Errc::system,
                  "cannot listen on " + where + ": " + ec.message()};
  i.port = i.acceptor.local_endpoint().port();
  return std::unique_ptr<Server>(new Server(std::move(*impl)));
}

Expected<std::unique_ptr<Server>> Server::adopt(int listening_fd, const ServerOptions& options, Handler handler) {
  auto impl = prepare(options, std::move(handler));
  if (!impl) return impl.status();
  Impl& i = **impl;
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(listening_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    return Status{Errc::system, "the socket to serve is not a socket"};
  beast::error_code ec;
  i.acceptor.assign(address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), listening_fd, ec);
  if (ec) return Status{Errc::system, "cannot serve the listening socket: " + ec.message()};
  i.port = i.acceptor.local_endpoint(ec).port();
  return std::unique_ptr<Server>(new Server(std::move(*impl)));
}

Server::~Server() { stop(); }

int Server::port() const { return impl_->port; }

std::size_t Server::connections() const {
  std::lock_guard lock(impl_->sessions_mutex);
  return impl_->sessions.size();
}

std::size_t Server::heap_bytes() const {
  return impl_->head_bytes.load(std::memory_order_relaxed) + connections() * kConnectionBytes;
}

void Server::stop() {
  if (impl_->stopped.exchange(true)) return;
  asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_retry.cancel();
    impl->trim_timer.cancel();
  });
  // Taken under the lock, closed and let go outside it: the last reference to a session may be
  // this one, and its destructor takes the lock to unregister.
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard lock(impl_->sessions_mutex);
    for (auto& weak : impl_->sessions)
      if (auto s = weak.lock()) open.push_back(std::move(s));
  }
  for (auto& s : open) s->close();
  open.clear();
  // The threads return once every connection has wound down (each close ends its pending
  // operations); a handler still running after a second is waited for, and nothing else is.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (impl_->running.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  impl_->ioc.stop();
  for (std::thread& t : impl_->threads)
    if (t.joinable()) t.join();
}

}  // namespace canary::http
