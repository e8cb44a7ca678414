"""/ws/realtime with a real WebSocket client against a real server socket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import simple_websocket

from app import create_app
from app.server import Server
from app.store import Store
from app.ws import Mailbox, merge
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, rec, seed


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, SpeedLayer]]:
    speed = SpeedLayer(fakeredis.FakeRedis(), "ws:")
    seed(speed)
    app = create_app(api_settings(tmp_path), store=Store(speed))
    srv = Server(app, "127.0.0.1", 0).start()
    yield srv, speed
    srv.stop()


def connect(srv: Server, token: str | None = "viewer-token") -> simple_websocket.Client:
    url = srv.url.replace("http://", "ws://") + "/ws/realtime" + (f"?token={token}" if token else "")
    return simple_websocket.Client.connect(url)


def receive(ws: simple_websocket.Client, timeout: float = 5.0) -> dict[str, Any]:
    data = ws.receive(timeout=timeout)
    assert data is not None, "no message within the timeout"
    return dict(json.loads(data))


def test_a_client_gets_a_snapshot_then_deltas(server: tuple[Server, SpeedLayer]) -> None:
    srv, speed = server
    ws = connect(srv)
    try:
        snap = receive(ws)
        assert snap["type"] == "snapshot"
        assert {v["id"] for v in snap["vehicles"]} == {"car-1", "bus-1", "car-far"}
        time.sleep(1.2)  # the hub follows changes from when it started
        speed.write([rec("vehicle_data", 0, device_id="car-1", location=[52.441, 13.521], speed=45.0,
                         vehicle_type="car")])  # fmt: skip
        delta = receive(ws)
        while delta["type"] != "delta" or not delta["vehicles"]:
            delta = receive(ws)
        (car,) = delta["vehicles"]
        assert car["id"] == "car-1" and car["lat"] == 52.441 and car["speed"] == 45.0
        assert delta["summary"]["active_vehicles"] == 3
    finally:
        ws.close()


def test_anonymous_sockets_get_nothing(server: tuple[Server, SpeedLayer]) -> None:
    srv, _ = server
    ws = connect(srv, token=None)
    with pytest.raises(simple_websocket.ConnectionClosed):
        ws.receive(timeout=5)


def test_a_slow_client_does_not_hold_up_others(server: tuple[Server, SpeedLayer]) -> None:
    srv, speed = server
    slow, fast = connect(srv), connect(srv)
    try:
        receive(fast)
        time.sleep(1.2)
        got = 0
        for i in range(4):  # the slow client reads nothing all along
            speed.write([rec("vehicle_data", 0, device_id=f"v{i}", location=[52.44, 13.52], speed=10.0)])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                msg = receive(fast)
                if any(v["id"] == f"v{i}" for v in msg.get("vehicles", [])):
                    got += 1
                    break
        assert got == 4
    finally:
        slow.close()
        fast.close()


def test_a_mailbox_merges_what_a_slow_client_missed() -> None:
    box = Mailbox()
    first = {"type": "delta", "vehicles": [{"id": "a", "lat": 1}, {"id": "b", "lat": 1}], "summary": {"n": 1}}
    second = {"type": "delta", "vehicles": [{"id": "a", "lat": 2}], "incidents": [{"id": "i"}], "summary": {"n": 2}}
    box.put(first, b"first")
    box.put(second, b"second")
    merged = json.loads(box.take(timeout=0) or b"null")
    assert sorted((v["id"], v["lat"]) for v in merged["vehicles"]) == [("a", 2), ("b", 1)]
    assert merged["incidents"] == [{"id": "i"}] and merged["summary"] == {"n": 2}
    assert box.take(timeout=0) is None
    box.put(first, b"first")
    assert box.take(timeout=0) == b"first"  # unmerged: the hub's bytes, not re-encoded
    assert merge(first, second)["vehicles"][0] == {"id": "a", "lat": 2}
