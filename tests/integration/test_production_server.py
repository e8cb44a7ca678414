"""The documented production command: the console alone, under gunicorn + gevent, on a real Redis."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.services import Gunicorn, RedisServer, free_port


def test_gunicorn_gevent_serves_http_while_sockets_are_open(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"SMARTCITY_REDIS_URL": redis_server.url, "SMARTCITY_REDIS_PREFIX": "prod:",
           "SMARTCITY_API_TOKENS": "viewer:vt", "SMARTCITY_LAKE_URI": str(tmp_path / "lake")}  # fmt: skip
    for key, value in env.items():  # the server process inherits them
        monkeypatch.setenv(key, value)
    with Gunicorn(tmp_path, free_port()) as server:
        base = f"127.0.0.1:{server.port}"
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(connect(f"ws://{base}/ws/realtime?token=vt")) for _ in range(20)]
            assert all(json.loads(ws.recv(timeout=10))["type"] == "snapshot" for ws in sockets)
            auth = {"Authorization": "Bearer vt"}
            req = urllib.request.Request(f"http://{base}/api/analytics/summary", headers=auth)
            with urllib.request.urlopen(req, timeout=10) as resp:  # answered with 20 sockets held open
                assert json.loads(resp.read())["active_vehicles"] == 0
