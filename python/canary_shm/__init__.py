# SPDX-License-Identifier: Apache-2.0
"""canary-shm for Python workers: route users to versions and record requests in shared memory.

    import canary_shm
    canary_shm.attach()                        # once per process (before or after fork)
    d = canary_shm.route(user_id, path)        # per request: d.version, d.is_canary, d.endpoint
    with canary_shm.timed(d, "POST") as t:     # marks it in flight, times it, records it
        ...
        t.status = 200

A process that cannot attach routes everyone to legacy and records nothing (it says so once on
stderr). `CanaryASGIMiddleware` and `CanaryWSGIMiddleware` do all of it for an app.
"""
from __future__ import annotations

import json
import time
from typing import Optional

from . import _native
from ._native import Decision, attached, is_canary_user, resolve_endpoint, route, route_endpoint, version_name

__all__ = [
    "Decision",
    "attach",
    "attached",
    "route",
    "route_endpoint",
    "is_canary_user",
    "resolve_endpoint",
    "record",
    "timed",
    "version_name",
    "writer_stats",
    "published_metrics",
    "CanaryASGIMiddleware",
    "CanaryWSGIMiddleware",
]


def attach(segment: Optional[str] = None) -> bool:
    """Attach to `segment` (None: $CANARY_SEGMENT, else "canary"). False when it cannot (fail open)."""
    return _native.attach(segment)


def record(decision: Decision, method: str, status: int, latency_us: int) -> None:
    """Record an answered request: its HTTP status (0: no response) and latency in microseconds."""
    _native.record(decision, method, status, latency_us)


class timed:
    """Marks a request in flight, times it, and records it on exit.

    The status is what the block sets (`t.status = 200`); an exception escaping the block records
    500 unless a status was set; a status never set records 0 (no response). If the process dies
    inside the block the aggregator counts the request as unavailable. Enter and exit on one thread.
    """

    __slots__ = ("decision", "method", "status", "_request", "_start")

    def __init__(self, decision: Decision, method: str = "GET") -> None:
        self.decision = decision
        self.method = method
        self.status: Optional[int] = None

    def __enter__(self) -> "timed":
        self._request = _native.begin(self.decision)
        self._start = time.perf_counter_ns()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        latency_us = (time.perf_counter_ns() - self._start) // 1000
        status = self.status if self.status is not None else (500 if exc_type is not None else 0)
        _native.end(self._request, self.method, status, latency_us)


def writer_stats() -> dict:
    """This process's writer: attached, rseq, ring, attach_failures, ring_full_drops, in_flight_other_thread."""
    return _native.writer_stats()


def published_metrics(segment: Optional[str] = None, window: str = "all") -> Optional[dict]:
    """The seed's metrics JSON from the summary the aggregator publishes in the segment (None before one has)."""
    text = _native.published_metrics(segment, window)
    return None if text is None else json.loads(text)


from .middleware import CanaryASGIMiddleware, CanaryWSGIMiddleware  # noqa: E402  (they use the above)
