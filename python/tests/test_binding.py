# SPDX-License-Identifier: Apache-2.0
"""canary_shm's calls against a real segment, checked with canary-shm-dump and canary-ctl."""
import os

import pytest

import canary_shm
from conftest import ctl, requests_of

TURN = "/api/v2/conversations/{session_id}/turn"


def test_routes_and_records_under_the_endpoint_template(segment):
    ctl(segment, "set-percentage", "100")
    assert canary_shm.attach(segment)
    d = canary_shm.route("user-1", "/api/v2/conversations/abc/turn")
    assert d.version == "canary" and d.is_canary and d.version_index == 1
    assert d.endpoint == canary_shm.resolve_endpoint(TURN) != 0
    canary_shm.record(d, "POST", 200, 1500)
    canary_shm.record(d, "POST", 503, 10)
    assert requests_of(segment, "canary") == 2
    assert requests_of(segment, "canary", field="errors") == 1
    assert requests_of(segment, "canary", TURN) == 2


def test_timed_records_the_status_an_exception_and_no_status(segment):
    ctl(segment, "set-percentage", "100")
    canary_shm.attach(segment)
    d = canary_shm.route("user-1", "/api/v2/recommend/compare")
    with canary_shm.timed(d, "GET") as t:
        t.status = 201
    with pytest.raises(RuntimeError):
        with canary_shm.timed(d, "GET"):
            raise RuntimeError("handler failed")
    with canary_shm.timed(d, "GET"):
        pass  # never answered: status 0
    assert requests_of(segment, "canary") == 3
    assert requests_of(segment, "canary", field="errors") == 2  # the 500 and the 0
    assert requests_of(segment, "canary", field="unavailable") == 1


def test_routing_is_the_one_canary_ctl_computes(segment):
    ctl(segment, "set-percentage", "50")
    canary_shm.attach(segment)
    for i in range(40):
        user = f"user-{i}"
        expected = ctl(segment, "route", "--user", user, "--path", "/api/v2/recommend/personalized").strip()
        assert canary_shm.route(user, "/api/v2/recommend/personalized").version == expected, user
        assert canary_shm.is_canary_user(user) == (expected == "canary")


def test_forked_workers_each_record_exactly(segment):
    ctl(segment, "set-percentage", "100")
    canary_shm.attach(segment)  # in the parent, as gunicorn's preload_app does
    children = []
    for w in range(4):
        pid = os.fork()
        if pid == 0:
            for i in range(250):
                d = canary_shm.route(f"user-{w}-{i}", "/api/v2/conversations/start")
                canary_shm.record(d, "POST", 200, 100)
            os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    assert requests_of(segment, "canary", "/api/v2/conversations/start") == 1000


def test_version_names_follow_the_config(segment):
    canary_shm.attach(segment)
    assert canary_shm.version_name(0) == "legacy" and canary_shm.version_name(1) == "canary"
    assert canary_shm.version_name(5) is None and canary_shm.version_name(99) is None
    ctl(segment, "version", "add", "canary2", "--share", "1")
    canary_shm.route("someone", "/")  # a route reads the new config
    assert canary_shm.version_name(2) == "canary2"


def test_without_a_segment_it_fails_open(capfd):
    assert not canary_shm.attach("canary-py-no-such-segment")
    assert "does not exist" in capfd.readouterr().err
    d = canary_shm.route("user-1", "/api/v2/recommend/compare")
    assert d.version == "legacy" and not d.is_canary
    canary_shm.record(d, "GET", 200, 10)  # nothing to record into; no error
    stats = canary_shm.writer_stats()
    assert stats["attached"] is False and stats["attach_failures"] >= 1
    assert canary_shm.published_metrics("canary-py-no-such-segment") is None


def test_bad_arguments_raise_type_errors(segment):
    canary_shm.attach(segment)
    d = canary_shm.route("user-1", "/")
    with pytest.raises(TypeError):
        canary_shm.route(None, "/")
    with pytest.raises(TypeError):
        canary_shm.record(d, "GET", -1, 0)
    with pytest.raises(TypeError):
        canary_shm.record("not a decision", "GET", 200, 0)
    with pytest.raises(ValueError):
        canary_shm.published_metrics(segment, window="7d")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to act as another user")
def test_a_segment_another_user_owns_is_refused_and_routes_legacy():
    """/dev/shm is open to every user: a segment `nobody` made is not used, whatever it says."""
    import subprocess
    import sys
    import uuid
    from conftest import CTL

    name = f"canary-py-owned-{uuid.uuid4().hex[:8]}"
    subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(CTL), "--segment", name,
                    "init", "--percentage", "100"], check=True, capture_output=True)
    try:
        # A fresh interpreter: the writer says why once per process.
        worker = subprocess.run([sys.executable, "-c", f"""
import canary_shm
print(canary_shm.attach("{name}"), canary_shm.route("user-1", "/api/v2/conversations").version)"""],
                                capture_output=True, text=True, check=True)
        assert worker.stdout.split() == ["False", "legacy"], worker.stdout
        assert "owned by nobody, uid 65534" in worker.stderr and "mode 0600" in worker.stderr, worker.stderr
    finally:
        subprocess.run(["rm", "-f", f"/dev/shm/{name}"])
