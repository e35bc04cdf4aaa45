// SPDX-License-Identifier: Apache-2.0
// A client of etcd's v3 API through its JSON gateway (/v3/kv/..., /v3/lease/..., /v3/watch): the
// one coordination service of fleet mode (SPEC section 11). Keys and values are bytes (base64 on
// the wire); revisions and lease ids are etcd's int64s.
//
// Every call goes to the endpoint that answered last; a connection failure or a timeout moves to
// the next one, so a cluster that lost a member (or its leader) keeps being reachable. With a user,
// the client authenticates once and again when etcd says the token expired.
//
// Not thread-safe: each thread that talks to etcd holds its own copy.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "canary/status.hpp"

namespace canary::http {
struct ClientRequest;
}

namespace canary::fleet {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // http://host:port or https://host:port
  std::chrono::milliseconds timeout{2000};  // each call, per endpoint tried
  std::string ca_file, cert_file, key_file;  // TLS: trusted CAs, and the client's certificate
  std::string user, password;                // etcd auth: empty user, none
  // How long a call goes on trying every member again while none can answer (an election after
  // a member died takes a few seconds). 0: one round. Loops that retry by themselves keep 0.
  std::chrono::milliseconds retry_for{0};
};

// "http://a:2379,http://b:2379" -> endpoints, each checked; or why not.
Expected<std::vector<std::string>> parse_endpoints(std::string_view list);

struct KeyValue {
  std::string key, value;
  std::int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct RangeResult {
  std::int64_t revision = 0;  // the store's revision when it was read
  std::vector<KeyValue> kvs;
};

// One comparison of a transaction: the key's field against `number` (revisions, version, lease) or
// `value`. A key that does not exist has every revision 0.
struct Compare {
  enum class Target { version, create, mod, value, lease };
  enum class Result { equal, greater, less, not_equal };
  std::string key;
  Target target = Target::mod;
  Result result = Result::equal;
  std::int64_t number = 0;
  std::string value;
};

struct TxnOp {
  enum class Kind { put, erase, range };
  Kind kind = Kind::put;
  std::string key;
  std::string value;      // put
  std::int64_t lease = 0;  // put: bound to this lease
  bool prefix = false;     // erase, range: every key that starts with `key`

  static TxnOp put(std::string key, std::string value, std::int64_t lease = 0) {
    return {Kind::put, std::move(key), std::move(value), lease, false};
  }
  static TxnOp erase(std::string key, bool prefix = false) { return {Kind::erase, std::move(key), {}, 0, prefix}; }
  static TxnOp range(std::string key, bool prefix = false) { return {Kind::range, std::move(key), {}, 0, prefix}; }
};

struct TxnResult {
  bool succeeded = false;
  std::int64_t revision = 0;
  std::vector<RangeResult> ranges;  // the range operations' answers, in order
};

struct WatchEvent {
  bool deleted = false;
  KeyValue kv;  // a deletion: the key and its mod_revision only
};

struct WatchEnd {
  std::int64_t next_revision = 0;  // where a new watch resumes: nothing before it is missed
  bool compacted = false;          // the history asked for is gone: re-read, then watch from there
};

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions options) : options_(std::move(options)) {}

  Expected<RangeResult> get(std::string_view key);
  Expected<RangeResult> get_prefix(std::string_view prefix);
  // The revision the put made.
  Expected<std::int64_t> put(std::string_view key, std::string_view value, std::int64_t lease = 0);
  // The number of keys deleted.
  Expected<std::int64_t> erase(std::string_view key, bool prefix = false);
  Expected<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                          const std::vector<TxnOp>& failure = {});

  // A lease of `ttl_s` seconds: its id.
  Expected<std::int64_t> grant(std::int64_t ttl_s);
  // Renews a lease; Errc::missing when it has expired (or was revoked).
  Status keep_alive(std::int64_t lease);
  Status revoke(std::int64_t lease);

  // Streams every change under `prefix` from `from_revision` to `on_events` (the revision of the
  // batch, its events) until `stop`, a disconnect, or `max_duration`; returns where to resume.
  Expected<WatchEnd> watch(std::string_view prefix, std::int64_t from_revision,
                           const std::function<void(std::int64_t, const std::vector<WatchEvent>&)>& on_events,
                           const std::atomic<bool>& stop,
                           std::chrono::milliseconds max_duration = std::chrono::minutes(5));

  // The endpoint the last call used.
  const std::string& endpoint() const { return options_.endpoints[current_ % options_.endpoints.size()]; }
  const EtcdOptions& options() const { return options_; }

 private:
  // POSTs a JSON body to `path` on the current endpoint, moving on to the next on a connection
  // failure; the answer's body when its status is 200.
  Expected<std::string> call(std::string_view path, const std::string& body);
  Expected<std::string> call_once(std::string_view path, const std::string& body);
  Status authenticate();
  // Adds the auth token (authenticating first when there is none yet), with a user.
  Status authorize(http::ClientRequest& request);

  EtcdOptions options_;
  std::size_t current_ = 0;
  std::string token_;
};

// A prefix's range end, as etcd wants it: the prefix with its last byte incremented.
std::string prefix_end(std::string_view prefix);

}  // namespace canary::fleet
