// SPDX-License-Identifier: Apache-2.0
// Routing costs: the per-request config check, the xxh3 and md5 buckets, and path matching.
#include <benchmark/benchmark.h>

#include "bench_segment.hpp"
#include "canary/router.hpp"
#include "canary/versions.hpp"

namespace canary::bench {
namespace {

Router& bound_router() {
  static auto router = [] {
    auto r = std::make_unique<Router>();
    Segment& s = bench_segment();
    r->bind(&s.config(), s.geometry().params.endpoint_capacity);
    return r;
  }();
  return *router;
}

void BM_ConfigRead(benchmark::State& state) {
  Router& router = bound_router();
  for (auto _ : state) {
    router.refresh();
    benchmark::DoNotOptimize(router.generation());
  }
}
BENCHMARK(BM_ConfigRead);

// route(user, endpoint id) over 1,024 UUID user ids.
void route_by_id(benchmark::State& state, Router& router) {
  const auto& ids = user_ids();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(router.route(ids[i++ & 1023], EndpointId{4}));
  }
}

// A router bound to a private config block, published the normal way (a second segment-free
// router would not exercise the refresh): for configs the shared bench segment does not have.
struct PrivateRouter {
  std::unique_ptr<ConfigBlock> block = std::make_unique<ConfigBlock>();
  std::unique_ptr<Router> router = std::make_unique<Router>();
};

std::unique_ptr<PrivateRouter> private_router(ConfigData& config) {
  auto p = std::make_unique<PrivateRouter>();
  publish_config(*p->block, config);
  p->router->bind(p->block.get(), kMaxEndpoints);
  return p;
}

void BM_RouteXxh3(benchmark::State& state) { route_by_id(state, bound_router()); }
BENCHMARK(BM_RouteXxh3);

// The same with a baseline and seven candidates at 10% each: the bucket's owner comes from the
// compiled allotment, as with two versions.
void BM_RouteXxh3EightVersions(benchmark::State& state) {
  static auto p = [] {
    auto c = std::make_unique<ConfigData>(*make_initial_config({}, kMaxEndpoints));
    for (int k = 2; k < 8; ++k) (void)add_version(*c, "canary" + std::to_string(k), 1000);
    (void)allot_share(*c, kFirstCandidate, 1000);
    return private_router(*c);
  }();
  route_by_id(state, *p->router);
}
BENCHMARK(BM_RouteXxh3EightVersions);

void BM_RoutePath(benchmark::State& state) {
  Router& router = bound_router();
  const auto& ids = user_ids();
  const auto& paths = seed_paths();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(router.route(ids[i & 1023], std::string_view(paths[i % 7])));
    ++i;
  }
}
BENCHMARK(BM_RoutePath);

void BM_RouteMd5(benchmark::State& state) {
  static auto p = [] {
    InitialConfig init;
    init.hash = HashMode::md5;
    auto c = std::make_unique<ConfigData>(*make_initial_config(init, kMaxEndpoints));
    return private_router(*c);
  }();
  route_by_id(state, *p->router);
}
BENCHMARK(BM_RouteMd5);

// Not on every request: what a worker pays once after each config change (copy, check, compile).
void BM_ConfigRefreshAfterChange(benchmark::State& state) {
  Segment& s = bench_segment();
  auto router = std::make_unique<Router>();
  for (auto _ : state) {
    router->bind(&s.config(), s.geometry().params.endpoint_capacity);
    benchmark::DoNotOptimize(router->generation());
  }
}
BENCHMARK(BM_ConfigRefreshAfterChange);

}  // namespace
}  // namespace canary::bench
