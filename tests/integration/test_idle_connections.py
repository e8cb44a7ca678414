"""Idle connections are closed after a timeout, by the demo server and the production server;
upgraded WebSockets, quiet or not, stay open."""

from __future__ import annotations

import contextlib
import json
import runpy
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from websockets.sync.client import ClientConnection, connect

from app.server import Server
from tests.services import Gunicorn, RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
IDLE = 50
TIMEOUT_S = 1.0  # the demo server's, shortened for the test (app.server.IDLE_TIMEOUT_S)


@contextlib.contextmanager
def idle_connections(port: int, count: int, wait_s: float) -> Iterator[list[socket.socket]]:
    """``count`` TCP connections that send nothing; a recv waits ``wait_s`` at most."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=wait_s))
               for _ in range(count)]  # fmt: skip


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server ended the connection (end of stream; a reset counts too)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def status_of(url: str, token: str) -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


def stays_open(ws: ClientConnection, quiet_s: float) -> bool:
    """Only read for ``quiet_s`` (the server may push nothing at all), then check that the
    socket still answers a ping."""
    deadline = time.monotonic() + quiet_s
    with contextlib.suppress(TimeoutError):
        while (left := deadline - time.monotonic()) > 0:
            ws.recv(timeout=left)
    return ws.ping().wait(10)


@pytest.fixture
def demo_server(app: Flask) -> Iterator[Server]:
    server = Server(app, "127.0.0.1", 0, idle_timeout=TIMEOUT_S).start()
    yield server
    server.stop()


def test_the_demo_server_closes_idle_connections_and_goes_on_serving(demo_server: Server) -> None:
    with idle_connections(demo_server.port, IDLE, wait_s=TIMEOUT_S + 10) as idle:
        assert [closed_by_server(s) for s in idle] == [True] * IDLE
        assert status_of(f"{demo_server.url}/api/vehicles/locations", "viewer-token") == 200


def test_a_quiet_websocket_outlives_the_demo_servers_idle_timeout(demo_server: Server) -> None:
    with connect(f"ws://127.0.0.1:{demo_server.port}/ws/realtime?token=viewer-token") as ws:
        assert ws.recv(timeout=10)  # the snapshot
        assert stays_open(ws, TIMEOUT_S + 2)


def test_gunicorn_closes_idle_connections_but_not_quiet_websockets(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    keepalive = float(runpy.run_path(str(ROOT / "app" / "gunicorn_conf.py"))["keepalive"])
    assert keepalive > 0  # 0 would mean no timeout at all for a connection's first request
    env = {"SMARTCITY_REDIS_URL": redis_server.url, "SMARTCITY_REDIS_PREFIX": prefix,
           "SMARTCITY_API_TOKENS": "viewer:vt", "SMARTCITY_LAKE_URI": str(tmp_path / "lake")}  # fmt: skip
    for key, value in env.items():  # the server process inherits them
        monkeypatch.setenv(key, value)
    port = free_port()
    with Gunicorn(tmp_path, port), connect(f"ws://127.0.0.1:{port}/ws/realtime?token=vt") as ws:
        assert ws.recv(timeout=10)
        with idle_connections(port, IDLE, wait_s=keepalive + 10) as idle:
            assert [closed_by_server(s) for s in idle] == [True] * IDLE
            assert status_of(f"http://127.0.0.1:{port}/api/vehicles/locations", "vt") == 200
        assert stays_open(ws, 2)  # by now quiet for longer than keepalive


def test_what_the_demo_server_refuses_before_the_app_is_json(demo_server: Server) -> None:
    with socket.create_connection(("127.0.0.1", demo_server.port), timeout=10) as sock:
        sock.sendall(b"GET /api/health?x=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414") and b"Content-Type: application/json" in head
    assert json.loads(body)["error"]["status"] == 414
