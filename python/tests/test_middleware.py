# SPDX-License-Identifier: Apache-2.0
"""The ASGI middleware on a FastAPI app (Starlette's TestClient) and the WSGI one on a plain WSGI app."""
import io
import json

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

import canary_shm
from conftest import ctl, requests_of

PERSONALIZED = "/api/v2/recommend/personalized"
TURN = "/api/v2/conversations/{session_id}/turn"


def asgi_app(segment: str) -> FastAPI:
    app = FastAPI()
    app.add_middleware(canary_shm.CanaryASGIMiddleware, segment=segment)

    @app.post(PERSONALIZED)
    async def personalized(request: Request):
        body = await request.json()  # the middleware read the body for the user id; the app still can
        return {"version": request.state.canary.version, "user": body["user_id"]}

    @app.get("/api/v2/conversations/{session_id}/turn")
    def turn(session_id: str, request: Request):
        return {"version": request.state.canary.version, "session": session_id}

    @app.get("/api/v2/conversations/start")
    def broken():
        raise RuntimeError("canary bug")

    @app.get("/api/v2/admin/canary/metrics")
    def admin():
        return {}

    return app


def test_asgi_routes_by_user_and_records_by_template(segment):
    ctl(segment, "set-percentage", "100")
    client = TestClient(asgi_app(segment), raise_server_exceptions=False)
    r = client.post(PERSONALIZED, json={"user_id": "test_canary_user", "query": "test query"})
    assert r.status_code == 200 and r.json() == {"version": "canary", "user": "test_canary_user"}
    assert r.headers["x-canary-version"] == "canary"
    assert client.get("/api/v2/conversations/s1/turn", params={"user_id": "u1"}).json()["version"] == "canary"
    assert client.get("/api/v2/conversations/s2/turn", headers={"X-User-Id": "u2"}).json()["version"] == "canary"
    assert client.get("/api/v2/conversations/start", params={"user_id": "u3"}).status_code == 500
    client.get("/api/v2/admin/canary/metrics")  # not the product's traffic: not recorded
    assert requests_of(segment, "canary", PERSONALIZED) == 1
    assert requests_of(segment, "canary", TURN) == 2
    assert requests_of(segment, "canary", "/api/v2/conversations/start", field="errors") == 1
    assert requests_of(segment, "canary") == 4
    assert requests_of(segment, "legacy") == 0


def test_asgi_without_a_user_id_routes_legacy_and_still_records(segment):
    ctl(segment, "set-percentage", "100")
    client = TestClient(asgi_app(segment))
    assert client.get("/api/v2/conversations/s1/turn").json()["version"] == "legacy"
    assert requests_of(segment, "legacy", TURN) == 1


def wsgi_app(environ, start_response):
    if environ["PATH_INFO"] == "/api/v2/conversations/start":
        raise RuntimeError("canary bug")
    decision = environ["canary.decision"]
    body = json.dumps({"version": decision.version}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def call_wsgi(app, path, body=b"", query="", headers=None):
    environ = {"REQUEST_METHOD": "POST" if body else "GET", "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_TYPE": "application/json" if body else "", "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    environ.update(headers or {})
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    result = app(environ, start_response)
    try:
        out = b"".join(result)
    finally:
        result.close()
    return seen, out, environ


def test_wsgi_routes_by_user_and_records_on_close(segment):
    ctl(segment, "set-percentage", "100")
    app = canary_shm.CanaryWSGIMiddleware(wsgi_app, segment=segment)
    seen, out, environ = call_wsgi(app, PERSONALIZED, body=b'{"user_id": "test_canary_user"}')
    assert json.loads(out) == {"version": "canary"}
    assert seen["headers"]["X-Canary-Version"] == "canary"
    assert environ["wsgi.input"].read() == b'{"user_id": "test_canary_user"}'  # the app can read the body again
    call_wsgi(app, "/api/v2/conversations/s9/turn", query="user_id=u1")
    call_wsgi(app, "/api/v2/conversations/s9/turn", headers={"HTTP_X_USER_ID": "u2"})
    try:
        call_wsgi(app, "/api/v2/conversations/start", query="user_id=u3")
    except RuntimeError:
        pass
    assert requests_of(segment, "canary", PERSONALIZED) == 1
    assert requests_of(segment, "canary", TURN) == 2
    assert requests_of(segment, "canary", "/api/v2/conversations/start", field="errors") == 1


def test_a_user_id_that_is_not_utf8_is_served_routed_legacy_and_recorded(segment):
    ctl(segment, "set-percentage", "100")
    app = FastAPI()
    app.add_middleware(canary_shm.CanaryASGIMiddleware, segment=segment)

    @app.post(PERSONALIZED)
    async def personalized(request: Request):
        return {"version": request.state.canary.version}

    client = TestClient(app)
    # A JSON string with a lone surrogate: valid JSON, no UTF-8 encoding.
    r = client.post(PERSONALIZED, content=b'{"user_id": "\\ud800", "query": "q"}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["x-canary-version"] == "legacy"
    assert requests_of(segment, "legacy", PERSONALIZED) == 1
    middleware = app.middleware_stack
    while not isinstance(middleware, canary_shm.CanaryASGIMiddleware):
        middleware = middleware.app
    assert middleware.unroutable_user_ids == 1

    wsgi = canary_shm.CanaryWSGIMiddleware(wsgi_app, segment=segment)
    seen, out, _ = call_wsgi(wsgi, PERSONALIZED, body=b'{"user_id": "\\udfff"}')
    assert json.loads(out) == {"version": "legacy"} and seen["status"] == "200 OK"
    assert wsgi.unroutable_user_ids == 1
    # An id reader that returns no text at all fails open too.
    odd = canary_shm.CanaryWSGIMiddleware(wsgi_app, segment=segment, user_id=lambda environ, body: 12345)
    seen, out, _ = call_wsgi(odd, PERSONALIZED, body=b'{}')
    assert json.loads(out) == {"version": "legacy"} and odd.unroutable_user_ids == 1
    assert requests_of(segment, "legacy", PERSONALIZED) == 3
