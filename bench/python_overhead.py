# SPDX-License-Identifier: Apache-2.0
"""What canary_shm costs a Python request: route + record, and the `timed` context manager, against
two baselines in the same run: two calls of an empty Python function with the same arguments (what
any two calls cost), and the seed's collector (a lock, dicts and a list append per request).
Prints one JSON object: each case's median ns per request over REPEATS runs.

    venv/bin/python bench/python_overhead.py [SEGMENT]      (a segment made by canary-ctl init)
"""
import json
import statistics
import sys
import threading
import time
import timeit

import canary_shm

REPEATS, NUMBER = 15, 20_000
USERS = [f"5f0c2b7e-9d1a-4c3e-8a2b-{i:012x}" for i in range(1024)]
PATH = "/api/v2/conversations/5f0c2b7e-9d1a-4c3e-8a2b-1e4f6d7c8b9a/turn"


def empty(*args):
    return None


class SeedCollector:
    """The seed's record_request, as the Python service has it: one lock, metrics in dicts, every time kept."""

    def __init__(self):
        self.lock = threading.Lock()
        self.metrics = {}

    def record_request(self, endpoint, method, user_id, version, status_code, response_time_ms):
        with self.lock:
            m = self.metrics.setdefault((version, endpoint), {"count": 0, "errors": 0, "times": []})
            m["count"] += 1
            m["errors"] += status_code >= 500
            m["times"].append(response_time_ms)
            if len(m["times"]) > 100_000:
                m["times"].clear()


def main():
    segment = sys.argv[1] if len(sys.argv) > 1 else None
    if not canary_shm.attach(segment):
        sys.exit("python_overhead: cannot attach")
    seed = SeedCollector()
    i = iter(range(1 << 62))

    def route_record():
        d = canary_shm.route(USERS[next(i) & 1023], PATH)
        canary_shm.record(d, "POST", 200, 1000)

    def with_timed():
        d = canary_shm.route(USERS[next(i) & 1023], PATH)
        with canary_shm.timed(d, "POST") as t:
            t.status = 200

    def two_empty_calls():
        d = empty(USERS[next(i) & 1023], PATH)
        empty(d, "POST", 200, 1000)

    def seed_collector():
        seed.record_request(PATH, "POST", USERS[next(i) & 1023], "legacy", 200, 1.0)

    cases = {"route_record": route_record, "timed": with_timed, "baseline_two_empty_calls": two_empty_calls,
             "seed_collector": seed_collector}
    results = {name: [] for name in cases}
    for _ in range(REPEATS):  # interleaved, so that drift on a noisy machine hits every case alike
        for name, fn in cases.items():
            results[name].append(timeit.timeit(fn, number=NUMBER) / NUMBER * 1e9)
    out = {name: round(statistics.median(v), 1) for name, v in results.items()}
    out["route_record_over_baseline"] = round(out["route_record"] - out["baseline_two_empty_calls"], 1)
    out["python"] = sys.version.split()[0]
    out["date"] = time.strftime("%Y-%m-%d")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
