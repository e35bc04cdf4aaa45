// SPDX-License-Identifier: Apache-2.0
// The C ABI (canary/canary.h): each function is the C++ writer call of the same name, with C types
// at the border and nothing thrown across it (every call below is noexcept).
#include "canary/canary.h"

#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>

#include "canary/build_info.hpp"
#include "canary/writer.hpp"

namespace {

static_assert(std::is_trivially_copyable_v<canary::InFlight>, "a canary_request's bytes are copied as they are");
static_assert(sizeof(canary::InFlight) <= sizeof(canary_request::opaque), "canary_request::opaque must hold an InFlight");
static_assert(alignof(canary::InFlight) <= alignof(std::uint64_t), "canary_request::opaque is 8-byte aligned");
static_assert(static_cast<int>(canary::Method::del) == CANARY_METHOD_DELETE &&
                  static_cast<int>(canary::Method::other) == CANARY_METHOD_OTHER,
              "the C methods are canary::Method's values");
static_assert(canary::kMethodCount == CANARY_METHOD_OTHER + 1);

std::string_view view(const char* text, std::size_t length) noexcept {
  return text == nullptr ? std::string_view() : std::string_view(text, length);
}

canary_decision to_c(const canary::Decision& d) noexcept {
  return {static_cast<std::uint32_t>(d.version), d.endpoint, d.user_hash};
}

// A version index outside the table, or an endpoint id beyond 16 bits, is recorded as the
// baseline and `other` by record() itself; here they only have to survive the narrowing.
canary::Decision from_c(const canary_decision& d) noexcept {
  const auto version = static_cast<canary::Version>(d.version < canary::kMaxVersions ? d.version : canary::kBaseline);
  const auto endpoint = static_cast<canary::EndpointId>(d.endpoint <= 0xFFFF ? d.endpoint : canary::kOtherEndpoint);
  return {version, endpoint, d.user_hash};
}

canary::Method method_of(canary_method m) noexcept {
  const auto i = static_cast<unsigned>(m);
  return i < canary::kMethodCount ? static_cast<canary::Method>(i) : canary::Method::other;
}

}  // namespace

extern "C" {

int canary_attach(const char* segment) {
  return canary::attach(segment == nullptr ? std::string_view() : std::string_view(segment)) ? CANARY_OK
                                                                                           : CANARY_ERR_ATTACH;
}

int canary_attached(void) { return canary::attached() ? 1 : 0; }

int canary_route(const char* user_id, size_t user_id_len, const char* path, size_t path_len, canary_decision* out) {
  if (out == nullptr) return CANARY_ERR_ARGUMENT;
  // One thread-local lookup for the route and the answer (each costs a call in a shared object).
  canary::detail::ThreadWriter& t = canary::detail::thread_writer();
  *out = to_c(t.router.route(view(user_id, user_id_len), view(path, path_len)));
  return t.recording ? CANARY_OK : CANARY_ERR_NOT_ATTACHED;
}

int canary_route_endpoint(const char* user_id, size_t user_id_len, uint32_t endpoint, canary_decision* out) {
  if (out == nullptr) return CANARY_ERR_ARGUMENT;
  const auto id = static_cast<canary::EndpointId>(endpoint <= 0xFFFF ? endpoint : canary::kOtherEndpoint);
  canary::detail::ThreadWriter& t = canary::detail::thread_writer();
  *out = to_c(t.router.route(view(user_id, user_id_len), id));
  return t.recording ? CANARY_OK : CANARY_ERR_NOT_ATTACHED;
}

int canary_is_canary_user(const char* user_id, size_t user_id_len) {
  return canary::is_canary_user(view(user_id, user_id_len)) ? 1 : 0;
}

uint32_t canary_resolve_endpoint(const char* path, size_t path_len) {
  return canary::resolve_endpoint(view(path, path_len));
}

void canary_record(const canary_decision* decision, canary_method method, uint32_t status, uint64_t latency_us) {
  if (decision == nullptr) return;
  const canary::Decision d = from_c(*decision);
  canary::record(d.endpoint, method_of(method), d.user_hash, d.version, status, latency_us);
}

int canary_begin(const canary_decision* decision, canary_request* out) {
  if (decision == nullptr || out == nullptr) return CANARY_ERR_ARGUMENT;
  const canary::InFlight request = canary::begin(from_c(*decision));
  out->decision = *decision;
  std::memcpy(out->opaque, &request, sizeof request);
  return canary::detail::t_writer.recording ? CANARY_OK : CANARY_ERR_NOT_ATTACHED;
}

void canary_end(canary_request* request, canary_method method, uint32_t status, uint64_t latency_us) {
  if (request == nullptr) return;
  canary::InFlight in_flight;
  std::memcpy(&in_flight, request->opaque, sizeof in_flight);
  canary::record(in_flight, method_of(method), status, latency_us);
  std::memcpy(request->opaque, &in_flight, sizeof in_flight);  // its mark is off: a second end records again, unmarked
}

canary_method canary_parse_method(const char* name, size_t name_len) {
  return static_cast<canary_method>(canary::parse_method(view(name, name_len)));
}

const char* canary_version_name(uint32_t index) {
  // One buffer per index, so that two names read one after the other stay valid together.
  static thread_local char names[canary::kMaxVersions][canary::kMaxVersionNameBytes + 1];
  if (index >= canary::kMaxVersions) return nullptr;
  const std::string_view name = canary::version_name(static_cast<canary::Version>(index));
  if (name.empty() || name.size() >= sizeof names[index]) return nullptr;
  std::memcpy(names[index], name.data(), name.size());
  names[index][name.size()] = '\0';
  return names[index];
}

int canary_find_version(const char* name, size_t name_len) {
  const auto version = canary::find_version(view(name, name_len));
  return version ? static_cast<int>(*version) : CANARY_ERR_UNKNOWN;
}

int canary_writer_stats(canary_stats* out) {
  if (out == nullptr || out->size < sizeof(std::uint32_t)) return CANARY_ERR_ARGUMENT;
  const canary::WriterStats s = canary::writer_stats();
  canary_stats full{};
  full.size = static_cast<std::uint32_t>(sizeof full);
  full.attached = s.attached ? 1 : 0;
  full.rseq = s.rseq ? 1 : 0;
  full.ring = s.ring;
  full.attach_failures = s.attach_failures;
  full.ring_full_drops = s.ring_full_drops;
  full.in_flight_other_thread = s.in_flight_other_thread;
  const std::size_t n = out->size < sizeof full ? out->size : sizeof full;
  std::memcpy(out, &full, n);
  out->size = static_cast<std::uint32_t>(n);
  return CANARY_OK;
}

int canary_abi_version(void) { return CANARY_ABI_VERSION; }

const char* canary_library_version(void) { return canary::build_version().data(); }  // a literal: NUL-terminated

}  // extern "C"
