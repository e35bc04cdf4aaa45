# SPDX-License-Identifier: Apache-2.0
"""ASGI and WSGI middlewares that do what the seed's CanaryMetricsMiddleware does: route each request by
its user id, let the app see the decision, and record status and latency under the endpoint template.

The user id is the `X-User-Id` header, else the `user_id` query parameter, else `user_id` in a JSON
body (as the seed's endpoints take it); a request without one is routed legacy and still recorded.
Pass `user_id=callable` to read it elsewhere. Paths under `exclude_prefixes` (by default the admin API,
/healthz and /metrics) are neither routed nor recorded: they are not the product's traffic. The decision is `scope["state"]["canary"]` (Starlette
and FastAPI: `request.state.canary`) or `environ["canary.decision"]`, and the response carries an
`X-Canary-Version` header.

A user id the writer cannot take (not text, or text that is not valid UTF-8, such as a JSON string
with a lone surrogate) never fails the request: it is served, routed legacy and recorded, and
counted in the middleware's `unroutable_user_ids`, with one warning in the log per process.
"""
from __future__ import annotations

import io
import json
import logging
import time
from typing import Callable, Optional
from urllib.parse import parse_qs

from . import _native

_MAX_BODY_FOR_USER_ID = 1 << 20  # a larger body is not parsed for a user id
DEFAULT_EXCLUDED = ("/api/v2/admin/", "/healthz", "/metrics")
_log = logging.getLogger("canary_shm")
_warned = False


def _user_from_query(query: bytes) -> Optional[str]:
    if b"user_id=" not in query:
        return None
    values = parse_qs(query.decode("latin-1")).get("user_id")
    return values[0] if values else None


def _user_from_json(body: bytes) -> Optional[str]:
    if not body or len(body) > _MAX_BODY_FOR_USER_ID:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    user = data.get("user_id") if isinstance(data, dict) else None
    return user if isinstance(user, str) else None


class _Middleware:
    """What both middlewares take: the app, the segment, a user-id reader and the paths left alone."""

    def __init__(self, app, segment: Optional[str] = None, user_id: Optional[Callable[[dict, bytes], Optional[str]]] = None,
                 exclude_prefixes: tuple = DEFAULT_EXCLUDED):
        self.app = app
        self.user_id = user_id
        self.exclude_prefixes = tuple(exclude_prefixes)
        self.unroutable_user_ids = 0
        # Attaching here serves both gunicorn models: with preload_app the master attaches and the
        # workers inherit the mapping; without it, each worker attaches when it loads the app.
        _native.attach(segment)

    def _route(self, user, path: str):
        """The writer's route(), failing open: an id or a path it cannot take routes legacy."""
        try:
            return _native.route(user or "", path)
        except (UnicodeError, TypeError):
            global _warned
            self.unroutable_user_ids += 1
            if not _warned:
                _warned = True
                _log.warning("canary_shm: a user id or path that is not UTF-8 text was routed legacy (%r)", user)
            try:
                return _native.route("", path)
            except (UnicodeError, TypeError):
                return _native.route("", "")


class CanaryASGIMiddleware(_Middleware):
    """ASGI middleware (FastAPI: `app.add_middleware(CanaryASGIMiddleware)`)."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path", "").startswith(self.exclude_prefixes):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        user = headers.get(b"x-user-id", b"").decode("latin-1") or _user_from_query(scope.get("query_string", b""))
        body = b""
        if user is None and b"json" in headers.get(b"content-type", b""):
            body, receive = await _buffer_body(receive)
        if self.user_id is not None:
            user = self.user_id(scope, body)
        elif user is None:
            user = _user_from_json(body)
        decision = self._route(user, scope.get("path", ""))
        scope.setdefault("state", {})["canary"] = decision
        version = decision.version.encode()
        status = 0

        async def send_with_version(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = dict(message, headers=list(message.get("headers", [])) + [(b"x-canary-version", version)])
            await send(message)

        request = _native.begin(decision)
        start = time.perf_counter_ns()
        try:
            await self.app(scope, receive, send_with_version)
        except BaseException:
            if status == 0:
                status = 500
            raise
        finally:
            _native.end(request, scope.get("method", "GET"), status, (time.perf_counter_ns() - start) // 1000)


async def _buffer_body(receive):
    """Reads the whole request body, and returns it with a receive() that replays it to the app."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


class CanaryWSGIMiddleware(_Middleware):
    """WSGI middleware (Flask: `app.wsgi_app = CanaryWSGIMiddleware(app.wsgi_app)`)."""

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(self.exclude_prefixes):
            return self.app(environ, start_response)
        user = environ.get("HTTP_X_USER_ID") or _user_from_query(environ.get("QUERY_STRING", "").encode("latin-1"))
        body = b""
        if user is None and "json" in environ.get("CONTENT_TYPE", ""):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if 0 < length <= _MAX_BODY_FOR_USER_ID else b""
            environ["wsgi.input"] = io.BytesIO(body)
        if self.user_id is not None:
            user = self.user_id(environ, body)
        elif user is None:
            user = _user_from_json(body)
        decision = self._route(user, environ.get("PATH_INFO", ""))
        environ["canary.decision"] = decision
        version = decision.version
        status = [0]

        def start_with_version(status_line, headers, exc_info=None):
            status[0] = int(status_line.split(" ", 1)[0])
            return start_response(status_line, list(headers) + [("X-Canary-Version", version)], exc_info)

        request = _native.begin(decision)
        start = time.perf_counter_ns()
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            result = self.app(environ, start_with_version)
        except BaseException:
            _native.end(request, method, status[0] or 500, (time.perf_counter_ns() - start) // 1000)
            raise
        return _Recorded(result, lambda failed: _native.end(
            request, method, status[0] or (500 if failed else 0), (time.perf_counter_ns() - start) // 1000))


class _Recorded:
    """The app's response iterable; the request is recorded when the server closes it (sent in full)."""

    def __init__(self, result, finish):
        self._result = result
        self._finish = finish
        self._failed = False

    def __iter__(self):
        try:
            yield from self._result
        except BaseException:
            self._failed = True
            raise

    def close(self):
        try:
            if hasattr(self._result, "close"):
                self._result.close()
        finally:
            self._finish(self._failed)
