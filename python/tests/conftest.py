# SPDX-License-Identifier: Apache-2.0
"""Fixtures: a fresh segment per test (canary-ctl init / destroy) and the built tools that read it.

The tools come from $CANARY_BUILD_DIR (default: the checkout's build/), as scripts/test.sh builds them.
"""
import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CANARY_BUILD_DIR", ROOT / "build"))
CTL = BUILD / "shm_tools" / "canary-ctl"
DUMP = BUILD / "shm_tools" / "canary-shm-dump"
AGGREGATOR = BUILD / "shm_tools" / "canary-aggregator"


def ctl(segment: str, *args: str) -> str:
    return subprocess.run([str(CTL), "--segment", segment, *args], check=True, capture_output=True, text=True).stdout


def dump(segment: str) -> dict:
    out = subprocess.run([str(DUMP), "--segment", segment, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def requests_of(segment: str, version: str, endpoint: str = None, field: str = "requests") -> int:
    d = dump(segment)
    block = d["totals"] if endpoint is None else d["endpoints"].get(endpoint, {})
    return block.get(version, {}).get(field, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def segment():
    name = f"canary-py-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    ctl(name, "init")
    yield name
    subprocess.run([str(CTL), "--segment", name, "destroy", "--even-if-live"], capture_output=True)
