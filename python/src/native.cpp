// SPDX-License-Identifier: Apache-2.0
// canary_shm._native: the writer's calls for Python (pybind11). Each call is the C++ writer call
// of the same name; the per-request ones (route, record, begin, end) take no lock, allocate nothing
// in the writer and make no system call, and never raise for a segment that is missing (the
// process fails open, as in C++). Arguments of the wrong type raise TypeError, as pybind11 does.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <string_view>

#include "canary/report/seed_json.hpp"
#include "canary/segment.hpp"
#include "canary/window_series.hpp"
#include "canary/writer.hpp"

namespace py = pybind11;

namespace {

// A request's routing, as route() returned it. `version` is the version's name (read when asked:
// most handlers only need is_canary).
struct PyDecision {
  canary::Decision decision;
};

struct PyInFlight {
  canary::InFlight request;
  bool ended = false;
};

canary::Method method_of(std::string_view method) { return canary::parse_method(method); }

std::string name_of(canary::Version v) {
  const std::string_view name = canary::version_name(v);
  return std::string(name.empty() ? canary::to_string(v) : name);  // unattached: "legacy"
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "canary-shm's writer: route users to versions and record requests in shared memory";

  py::class_<PyDecision>(m, "Decision")
      .def_property_readonly("version", [](const PyDecision& d) { return name_of(d.decision.version); })
      .def_property_readonly("version_index", [](const PyDecision& d) { return static_cast<int>(d.decision.version); })
      .def_property_readonly("is_canary", [](const PyDecision& d) { return d.decision.version != canary::Version::legacy; })
      .def_property_readonly("endpoint", [](const PyDecision& d) { return d.decision.endpoint; })
      .def_property_readonly("user_hash", [](const PyDecision& d) { return d.decision.user_hash; })
      .def("__repr__", [](const PyDecision& d) {
        return "Decision(version='" + name_of(d.decision.version) + "', endpoint=" + std::to_string(d.decision.endpoint) +
               ", user_hash=" + std::to_string(d.decision.user_hash) + ")";
      });

  py::class_<PyInFlight>(m, "InFlight");

  m.def(
      "attach", [](std::optional<std::string> segment) { return canary::attach(segment ? *segment : std::string()); },
      py::arg("segment") = py::none(),
      "Attach this process to a segment (None: $CANARY_SEGMENT, else 'canary'). False, after one line on stderr, "
      "when it cannot: everyone is then routed legacy and nothing is recorded.");
  m.def("attached", &canary::attached);
  m.def(
      "route",
      [](std::string_view user_id, std::string_view path) { return PyDecision{canary::route(user_id, path)}; },
      py::arg("user_id"), py::arg("path"));
  m.def(
      "route_endpoint",
      [](std::string_view user_id, canary::EndpointId endpoint) { return PyDecision{canary::route(user_id, endpoint)}; },
      py::arg("user_id"), py::arg("endpoint"));
  m.def(
      "is_canary_user", [](std::string_view user_id) { return canary::is_canary_user(user_id); }, py::arg("user_id"));
  m.def(
      "resolve_endpoint", [](std::string_view path) { return canary::resolve_endpoint(path); }, py::arg("path"));
  m.def(
      "record",
      [](const PyDecision& d, std::string_view method, std::uint32_t status, std::uint64_t latency_us) {
        canary::record(d.decision.endpoint, method_of(method), d.decision.user_hash, d.decision.version, status, latency_us);
      },
      py::arg("decision"), py::arg("method"), py::arg("status"), py::arg("latency_us"));
  m.def(
      "begin", [](const PyDecision& d) { return PyInFlight{canary::begin(d.decision)}; }, py::arg("decision"));
  m.def(
      "end",
      [](PyInFlight& r, std::string_view method, std::uint32_t status, std::uint64_t latency_us) {
        // Once: a second end() of the same request would count it twice.
        if (r.ended) return;
        r.ended = true;
        canary::record(r.request, method_of(method), status, latency_us);
      },
      py::arg("request"), py::arg("method"), py::arg("status"), py::arg("latency_us"));
  m.def(
      "version_name",
      [](std::uint32_t index) -> std::optional<std::string> {
        if (index >= canary::kMaxVersions) return std::nullopt;
        const std::string_view name = canary::version_name(static_cast<canary::Version>(index));
        return name.empty() ? std::nullopt : std::optional<std::string>(name);
      },
      py::arg("index"));
  m.def("writer_stats", [] {
    const canary::WriterStats s = canary::writer_stats();
    py::dict d;
    d["attached"] = s.attached;
    d["rseq"] = s.rseq;
    d["ring"] = s.ring;
    d["attach_failures"] = s.attach_failures;
    d["ring_full_drops"] = s.ring_full_drops;
    d["in_flight_other_thread"] = s.in_flight_other_thread;
    return d;
  });
  m.def(
      "published_metrics",
      [](std::optional<std::string> segment, const std::string& window) -> std::optional<std::string> {
        const std::optional<canary::Window> w = canary::parse_window(window);
        if (!w) throw py::value_error("window must be one of 5m, 1h, 6h, 24h, all");
        const auto body = canary::report::published_metrics_json(segment ? *segment : canary::default_segment_name(), *w);
        return body ? std::optional<std::string>(body->dump()) : std::nullopt;
      },
      py::arg("segment") = py::none(), py::arg("window") = "all",
      "The seed's metrics JSON (text) from the summary the aggregator publishes in the segment; None before one has.");
}
