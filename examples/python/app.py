# SPDX-License-Identifier: Apache-2.0
"""The seed's seven endpoints as a FastAPI app, routed and recorded through canary_shm.

    gunicorn -k uvicorn.workers.UvicornWorker -w 4 -b 127.0.0.1:8080 --chdir examples/python app:app

The middleware routes each request by its user id (JSON body, query or X-User-Id) and records it
under its endpoint template; the handlers only read `request.state.canary`. The seed's admin URL,
/api/v2/admin/canary/metrics, is answered from the summary the aggregator publishes in the segment,
as the C++ demo server answers it. The segment is $CANARY_SEGMENT, else "canary".
"""
import secrets

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import canary_shm

app = FastAPI(title="canary-shm Python example")
app.add_middleware(canary_shm.CanaryASGIMiddleware)


def answer(request: Request, endpoint: str, body: dict) -> dict:
    decision = request.state.canary
    return dict(body, version=decision.version, endpoint=endpoint)


async def user_or_error(request: Request):
    """The user id, as the C++ demo server requires it: query parameter or JSON body."""
    user = request.query_params.get("user_id")
    if user is None:
        try:
            data = await request.json()
        except ValueError:
            return None, "user_id is required: in the JSON body, or as a query parameter"
        user = data.get("user_id") if isinstance(data, dict) else None
    if not isinstance(user, str) or not user:
        return None, "user_id is required: in the JSON body, or as a query parameter"
    return user, None


def endpoint(path: str, body_of):
    async def handler(request: Request):
        _, error = await user_or_error(request)
        if error:
            return JSONResponse(answer(request, path, {"error": error}), status_code=400)
        canary = request.state.canary.is_canary
        return answer(request, path, body_of(canary, request.path_params.get("session_id", "")))

    app.add_api_route(path, handler, methods=["GET", "POST"])


endpoint("/api/v2/recommend/personalized", lambda canary, _: {
    "algorithm": "hybrid-ranker-v4" if canary else "collaborative-filtering-v3",
    "recommendations": [{"id": "item-17", "score": 0.93 if canary else 0.91}, {"id": "item-4", "score": 0.87}]})
endpoint("/api/v2/recommend/compare", lambda canary, _: {
    "winner": "item-17" if canary else "item-4",
    "explanation": "ranked by the v4 model" if canary else "ranked by popularity"})
endpoint("/api/v2/conversations/start", lambda canary, _: {"session_id": secrets.token_hex(8), "greeting": "Hello!"})
endpoint("/api/v2/conversations/{session_id}/turn", lambda canary, session: {
    "session_id": session, "reply": "Here is a better answer." if canary else "Here is an answer."})
endpoint("/api/v2/conversations/{session_id}/close", lambda canary, session: {"session_id": session, "closed": True})
endpoint("/api/v2/conversations/{session_id}", lambda canary, session: {"session_id": session, "turns": 3})
endpoint("/api/v2/conversations", lambda canary, _: {"sessions": []})


@app.get("/api/v2/admin/canary/metrics")
def metrics(window: str = "all"):
    try:
        body = canary_shm.published_metrics(window=window)
    except ValueError as e:
        return JSONResponse({"error": str(e), "field": "window"}, status_code=400)
    if body is None:
        return JSONResponse({"error": "no aggregator has published a summary in the segment yet"}, status_code=503)
    return body
