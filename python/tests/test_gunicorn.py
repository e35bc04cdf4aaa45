# SPDX-License-Identifier: Apache-2.0
"""examples/python/app.py under gunicorn with uvicorn workers (pre-fork), with and without
preload_app, beside a real aggregator: the seed's curl example, exact counts per version, and the
seed's /api/v2/admin/canary/metrics served by the app."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import AGGREGATOR, ROOT, ctl, free_port, requests_of

APP_DIR = ROOT / "examples" / "python"
ENDPOINTS = ["/api/v2/recommend/personalized", "/api/v2/recommend/compare", "/api/v2/conversations/start",
             "/api/v2/conversations/abc/turn", "/api/v2/conversations/abc", "/api/v2/conversations/abc/close",
             "/api/v2/conversations"]


def wait_until(check, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    return False


@pytest.fixture
def aggregator(segment):
    port = free_port()
    proc = subprocess.Popen([str(AGGREGATOR), "--segment", segment, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200)
    yield port
    proc.terminate()
    proc.wait(10)


def start_gunicorn(segment: str, preload: bool):
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "4",
            "-b", f"127.0.0.1:{port}", "--chdir", str(APP_DIR), "--graceful-timeout", "5"]
    if preload:
        args.append("--preload")
    proc = subprocess.Popen(args + ["app:app"], env=dict(os.environ, CANARY_SEGMENT=segment),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    if not wait_until(lambda: httpx.get(url + "/api/v2/admin/canary/metrics").status_code in (200, 503)):
        proc.kill()
        pytest.fail("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])
    return proc, url


@pytest.mark.parametrize("preload", [False, True], ids=["workers-attach", "preload_app"])
def test_gunicorn_workers_route_and_record_exactly(segment, aggregator, preload):
    ctl(segment, "set-percentage", "30")
    proc, url = start_gunicorn(segment, preload)
    try:
        # The seed's curl example, as it is written.
        out = subprocess.run(["curl", "-s", "-X", "POST", url + "/api/v2/recommend/personalized",
                              "-H", "Content-Type: application/json",
                              "-d", '{"user_id": "test_canary_user", "query": "test query"}'],
                             check=True, capture_output=True, text=True).stdout
        expected = ctl(segment, "route", "--user", "test_canary_user", "--path", "/api/v2/recommend/personalized").strip()
        assert f'"version":"{expected}"' in out.replace(" ", "")

        sent = {"legacy": 1 if expected == "legacy" else 0, "canary": 1 if expected == "canary" else 0}
        with httpx.Client(base_url=url) as client:
            for i in range(300):
                path = ENDPOINTS[i % len(ENDPOINTS)]
                r = client.post(path, json={"user_id": f"user-{i}"}) if i % 2 else client.get(path, params={"user_id": f"user-{i}"})
                assert r.status_code == 200, r.text
                sent[r.headers["x-canary-version"]] += 1
        assert sent["canary"] > 0 and sent["legacy"] > 0
        for version, n in sent.items():
            assert requests_of(segment, version) == n, version

        # The seed's admin URL, answered by the app from the summary the aggregator publishes.
        def published():
            body = httpx.get(url + "/api/v2/admin/canary/metrics").json()
            return body if body.get("canary", {}).get("request_count") == sent["canary"] else None
        assert wait_until(published)
        body = published()
        assert body["legacy"]["request_count"] == sent["legacy"]
        assert set(body["comparison"]["traffic_split"]) == {"legacy_requests", "canary_requests", "legacy_percentage",
                                                             "canary_percentage"}
        assert body["canary"]["error_rate"].endswith("%")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
