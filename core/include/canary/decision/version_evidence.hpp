// SPDX-License-Identifier: Apache-2.0
// One version's counts and latency samples as the judge's evidence: what the single-host engine
// and the fleet leader both hand judge() for each side.
#pragma once

#include "canary/decision/judge.hpp"
#include "canary/latency_sketch.hpp"
#include "canary/window_series.hpp"

namespace canary {

// `samples` must outlive the evidence: latency_at reads it (in milliseconds).
inline VersionEvidence version_evidence(const WindowCounts& c, Samples& samples, bool count_4xx_as_errors) {
  VersionEvidence ve;
  ve.requests = c.requests;
  ve.errors = c.errors + (count_4xx_as_errors ? c.client_errors : 0);
  ve.unavailable = c.unavailable;
  ve.latency_samples = samples.sketch.count();
  ve.latency_relative_error = LatencySketch::kRelativeBound;
  Samples* s = &samples;
  if (ve.latency_samples > 0) ve.latency_at = [s](double fraction) { return s->quantile(fraction) / 1000.0; };
  return ve;
}

}  // namespace canary
