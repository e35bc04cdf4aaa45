#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs every test: the release build with all tests, the
# library, tools and tests again under AddressSanitizer + UBSan, the threaded tests under
# ThreadSanitizer, and each benchmark once, briefly (figures are not asserted here).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)
configure() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCANARY_WERROR=ON "$@" >/dev/null
}

echo "== release build, all tests (the sustained-load test alone, 30 s)"
configure build -DCANARY_BUILD_PYTHON=ON
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== Python: pip install ./python into a virtual environment of Debian's python3, then pytest"
rm -rf build/venv
/usr/bin/python3 -m venv --system-site-packages build/venv
CANARY_CMAKE_BUILD_DIR="$PWD/build" build/venv/bin/pip install --quiet --no-build-isolation ./python
CANARY_BUILD_DIR="$PWD/build" build/venv/bin/python -m pytest -q -p no:cacheprovider python/tests

# Sanitizer builds at -O1 with line tables only: what the sanitizers' reports need (file:line),
# at half the compile time of -O2 -g. tests/release_only.cmake lists what they do not build.
sanitized=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCANARY_BUILD_BENCH=OFF)

echo "== AddressSanitizer + UBSan: library, tools and tests (not the sustained load, the simulations, the consumer builds, nor the rollouts and fleets end to end)"
configure build-asan "${sanitized[@]}" -DCANARY_SANITIZE=address,undefined
cmake --build build-asan -j "$jobs"
ctest --test-dir build-asan --output-on-failure -j "$jobs"

echo "== ThreadSanitizer: threaded tests"
configure build-tsan "${sanitized[@]}" -DCANARY_SANITIZE=thread
cmake --build build-tsan -j "$jobs" --target canary_race_tests
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/canary_race_tests

echo "== benchmarks, briefly"
build/bench/canary-bench --benchmark_min_time=0.01

echo "== all tests passed"
