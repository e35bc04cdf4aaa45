// SPDX-License-Identifier: Apache-2.0
#include "canary/fleet/etcd_client.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <thread>
#include <nlohmann/json.hpp>

#include "canary/http/client.hpp"

namespace canary::fleet {

using json = nlohmann::json;

namespace {

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// etcd's base64 is standard and padded; anything else is a corrupt answer.
std::optional<std::string> unbase64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

// Protobuf's JSON mapping writes int64 as a string, and leaves out zero values.
std::int64_t int64_of(const json& j, const char* field) {
  const auto it = j.find(field);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (!it->is_string()) return 0;
  const std::string& s = it->get_ref<const std::string&>();
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string bytes_of(const json& j, const char* field) {
  const auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return {};
  auto decoded = unbase64(it->get_ref<const std::string&>());
  return decoded ? std::move(*decoded) : std::string();
}

KeyValue kv_of(const json& j) {
  KeyValue kv;
  kv.key = bytes_of(j, "key");
  kv.value = bytes_of(j, "value");
  kv.create_revision = int64_of(j, "create_revision");
  kv.mod_revision = int64_of(j, "mod_revision");
  kv.version = int64_of(j, "version");
  kv.lease = int64_of(j, "lease");
  return kv;
}

RangeResult range_of(const json& j) {
  RangeResult r;
  if (const auto h = j.find("header"); h != j.end()) r.revision = int64_of(*h, "revision");
  if (const auto kvs = j.find("kvs"); kvs != j.end() && kvs->is_array())
    for (const json& kv : *kvs) r.kvs.push_back(kv_of(kv));
  return r;
}

json range_request(std::string_view key, bool prefix) {
  json r{{"key", base64(key)}};
  if (prefix) r["range_end"] = base64(prefix_end(key));
  return r;
}

json op_json(const TxnOp& op) {
  switch (op.kind) {
    case TxnOp::Kind::put: {
      json p{{"key", base64(op.key)}, {"value", base64(op.value)}};
      if (op.lease != 0) p["lease"] = std::to_string(op.lease);
      return {{"request_put", p}};
    }
    case TxnOp::Kind::erase:
      return {{"request_delete_range", range_request(op.key, op.prefix)}};
    case TxnOp::Kind::range:
      return {{"request_range", range_request(op.key, op.prefix)}};
  }
  return {};
}

json compare_json(const Compare& c) {
  static constexpr const char* kTargets[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
  static constexpr const char* kResults[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
  static constexpr const char* kFields[] = {"version", "create_revision", "mod_revision", "value", "lease"};
  const auto t = static_cast<std::size_t>(c.target);
  json j{{"key", base64(c.key)}, {"target", kTargets[t]}, {"result", kResults[static_cast<std::size_t>(c.result)]}};
  j[kFields[t]] = c.target == Compare::Target::value ? json(base64(c.value)) : json(std::to_string(c.number));
  return j;
}

// A POST to one member, with the TLS files of the options (and no auth: the caller adds it).
http::ClientRequest post(const EtcdOptions& o, std::string url, std::string body) {
  http::ClientRequest r;
  r.method = "POST";
  r.url = std::move(url);
  r.body = std::move(body);
  r.timeout = o.timeout;
  r.ca_file = o.ca_file;
  r.cert_file = o.cert_file;
  r.key_file = o.key_file;
  return r;
}

Expected<json> parse(const Expected<std::string>& body) {
  if (!body) return body.status();
  json j = json::parse(body.value(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status{Errc::corrupt, "etcd answered something that is not a JSON object"};
  return j;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Expected<std::vector<std::string>> parse_endpoints(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view one = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (one.empty()) continue;
    if (one.rfind("http://", 0) != 0 && one.rfind("https://", 0) != 0)
      return Status{Errc::invalid_argument, "etcd endpoint '" + std::string(one) + "' is not http://HOST:PORT or https://HOST:PORT"};
    std::string e(one);
    while (!e.empty() && e.back() == '/') e.pop_back();
    out.push_back(std::move(e));
  }
  if (out.empty()) return Status{Errc::invalid_argument, "no etcd endpoint given"};
  return out;
}

Expected<std::string> EtcdClient::call(std::string_view path, const std::string& body) {
  const auto give_up = std::chrono::steady_clock::now() + options_.retry_for;
  while (true) {
    auto answer = call_once(path, body);
    if (answer || answer.status().code() != Errc::system || std::chrono::steady_clock::now() >= give_up) return answer;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Expected<std::string> EtcdClient::call_once(std::string_view path, const std::string& body) {
  Status last{Errc::system, "no etcd endpoint"};
  for (std::size_t tried = 0; tried < options_.endpoints.size(); ++tried) {
    http::ClientRequest request = post(options_, endpoint() + std::string(path), body);
    if (Status s = authorize(request); !s.ok()) return s;
    auto answer = http::fetch(request);
    if (!answer) {
      // Unreachable or too slow: the next member may answer.
      last = Status{Errc::system, "etcd " + answer.status().message()};
      ++current_;
      continue;
    }
    if (answer->status == 200) return std::move(answer->body);
    const std::string text = answer->body.substr(0, 300);
    if (!options_.user.empty() && text.find("invalid auth token") != std::string::npos) {
      token_.clear();  // expired: the next try authenticates again
      continue;
    }
    // A member without a leader, timing out, or shutting down: another may do.
    if (answer->status >= 500) {
      last = Status{Errc::system, "etcd " + endpoint() + ": " + text};
      ++current_;
      continue;
    }
    return Status{answer->status == 401 || answer->status == 403 ? Errc::refused : Errc::invalid_argument,
                  "etcd " + endpoint() + std::string(path) + " answered " + std::to_string(answer->status) + ": " + text};
  }
  return last;
}

Status EtcdClient::authenticate() {
  auto answer = http::fetch(post(options_, endpoint() + "/v3/auth/authenticate",
                                 json{{"name", options_.user}, {"password", options_.password}}.dump()));
  if (!answer) return Status{Errc::system, "etcd " + answer.status().message()};
  const json j = json::parse(answer->body, nullptr, false);
  if (answer->status != 200 || !j.is_object() || !j.contains("token"))
    return Status{Errc::refused, "etcd refused user '" + options_.user + "': " + answer->body.substr(0, 200)};
  token_ = j["token"].get<std::string>();
  return Status::Ok();
}

Status EtcdClient::authorize(http::ClientRequest& request) {
  if (options_.user.empty()) return Status::Ok();
  if (token_.empty())
    if (Status s = authenticate(); !s.ok()) return s;
  request.headers.emplace_back("Authorization", token_);
  return Status::Ok();
}

Expected<RangeResult> EtcdClient::get(std::string_view key) {
  auto j = parse(call("/v3/kv/range", range_request(key, false).dump()));
  if (!j) return j.status();
  return range_of(*j);
}

Expected<RangeResult> EtcdClient::get_prefix(std::string_view prefix) {
  auto j = parse(call("/v3/kv/range", range_request(prefix, true).dump()));
  if (!j) return j.status();
  return range_of(*j);
}

Expected<std::int64_t> EtcdClient::put(std::string_view key, std::string_view value, std::int64_t lease) {
  json body{{"key", base64(key)}, {"value", base64(value)}};
  if (lease != 0) body["lease"] = std::to_string(lease);
  auto j = parse(call("/v3/kv/put", body.dump()));
  if (!j) return j.status();
  return int64_of(j->value("header", json::object()), "revision");
}

Expected<std::int64_t> EtcdClient::erase(std::string_view key, bool prefix) {
  auto j = parse(call("/v3/kv/deleterange", range_request(key, prefix).dump()));
  if (!j) return j.status();
  return int64_of(*j, "deleted");
}

Expected<TxnResult> EtcdClient::txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                                    const std::vector<TxnOp>& failure) {
  json body{{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const Compare& c : compares) body["compare"].push_back(compare_json(c));
  for (const TxnOp& op : success) body["success"].push_back(op_json(op));
  for (const TxnOp& op : failure) body["failure"].push_back(op_json(op));
  auto j = parse(call("/v3/kv/txn", body.dump()));
  if (!j) return j.status();
  TxnResult r;
  r.succeeded = j->value("succeeded", false);
  r.revision = int64_of(j->value("header", json::object()), "revision");
  if (const auto rs = j->find("responses"); rs != j->end() && rs->is_array())
    for (const json& one : *rs)
      if (const auto range = one.find("response_range"); range != one.end()) r.ranges.push_back(range_of(*range));
  return r;
}

Expected<std::int64_t> EtcdClient::grant(std::int64_t ttl_s) {
  auto j = parse(call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_s)}}.dump()));
  if (!j) return j.status();
  const std::int64_t id = int64_of(*j, "ID");
  if (id == 0) return Status{Errc::refused, "etcd granted no lease: " + j->dump().substr(0, 200)};
  return id;
}

Status EtcdClient::keep_alive(std::int64_t lease) {
  auto j = parse(call("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump()));
  if (!j) return j.status();
  // The gateway answers {"result": {...}} (a stream of one); an expired lease has no TTL.
  const json& r = j->contains("result") ? (*j)["result"] : *j;
  if (int64_of(r, "TTL") <= 0) return Status{Errc::missing, "lease " + std::to_string(lease) + " has expired"};
  return Status::Ok();
}

Status EtcdClient::revoke(std::int64_t lease) {
  auto j = parse(call("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump()));
  return j ? Status::Ok() : j.status();
}

Expected<WatchEnd> EtcdClient::watch(std::string_view prefix, std::int64_t from_revision,
                                     const std::function<void(std::int64_t, const std::vector<WatchEvent>&)>& on_events,
                                     const std::atomic<bool>& stop, std::chrono::milliseconds max_duration) {
  json create = range_request(prefix, true);
  if (from_revision > 0) create["start_revision"] = std::to_string(from_revision);
  http::ClientRequest request = post(options_, endpoint() + "/v3/watch", json{{"create_request", create}}.dump());
  if (Status s = authorize(request); !s.ok()) return s;

  WatchEnd end{from_revision, false};
  std::string pending;  // a message split across reads
  Status malformed;
  const auto deadline = std::chrono::steady_clock::now() + max_duration;
  auto on_body = [&](std::string_view piece) {
    pending.append(piece);
    // The gateway writes one JSON object per message, each ending with a newline.
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      const json j = json::parse(std::string_view(pending).substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (j.is_discarded()) continue;
      if (j.contains("error")) {
        malformed = Status{Errc::system, "etcd watch: " + j["error"].dump().substr(0, 200)};
        return false;
      }
      const json& r = j.value("result", json::object());
      if (const std::int64_t compact = int64_of(r, "compact_revision"); compact > 0) {
        end.compacted = true;
        end.next_revision = compact;
        return false;
      }
      std::vector<WatchEvent> events;
      if (const auto es = r.find("events"); es != r.end() && es->is_array())
        for (const json& e : *es) events.push_back({e.value("type", std::string("PUT")) == "DELETE", kv_of(e.value("kv", json::object()))});
      const std::int64_t revision = int64_of(r.value("header", json::object()), "revision");
      if (!events.empty()) {
        on_events(revision, events);
        end.next_revision = events.back().kv.mod_revision + 1;
      } else if (from_revision <= 0 && end.next_revision <= 0 && revision > 0) {
        end.next_revision = revision + 1;  // "created" from now: resume after what it saw
      }
    }
    return std::chrono::steady_clock::now() < deadline;
  };
  // The stream is cut at max_duration by on_body's answer, or at stop by the client.
  auto answered = http::stream(request, on_body, stop);
  if (!answered) {
    ++current_;  // the next watch tries another member
    return answered.status();
  }
  if (!malformed.ok()) return malformed;
  return end;
}

}  // namespace canary::fleet
