"""The push hub's honesty: a heartbeat when the city is quiet, a status when the speed layer is
away, a fresh snapshot when it is back. Unit tests on the embedded store (no sockets)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import fakeredis
import orjson
import pytest

import app.hub
from app.hub import UNREACHABLE, Frames, Hub, Mailbox, message, status
from app.store import Store
from pipeline.speed_layer import SpeedLayer
from tests.city import rec, seed


def payload(frame: bytes) -> dict[str, Any]:
    """The JSON of one unmasked text frame."""
    n = frame[1] & 0x7F
    start = 2 if n < 126 else 4 if n == 126 else 10
    out: dict[str, Any] = orjson.loads(frame[start:])
    return out


def messages(box: Mailbox, until: Any, seconds: float = 10.0) -> list[dict[str, Any]]:
    """What the mailbox gets until ``until(messages)`` holds (or the deadline passes)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not until(got):
        frame = box.take(timeout=0.2)
        if frame is not None:
            got.append(payload(frame))
    return got


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def hub(server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    monkeypatch.setattr(app.hub, "HEARTBEAT_S", 0.5)  # the test need not wait the real period
    speed = SpeedLayer(fakeredis.FakeRedis(server=server), "hub:")
    seed(speed)
    hub = Hub(Store(speed))
    yield hub
    hub.close_all()


def test_a_quiet_city_still_gets_a_message_with_the_summary(hub: Hub) -> None:
    box = hub.subscribe()
    got = messages(box, lambda m: len(m) >= 2)
    assert len(got) >= 2  # silence never lasts: a client can tell a quiet city from a dead socket
    for beat in got:
        assert beat["type"] == "delta" and beat["vehicles"] == [] and beat["incidents"] == []
        assert beat["summary"]["active_vehicles"] == 3 and beat["ts"] > 0


def test_the_speed_layer_going_away_is_said_once_and_its_return_brings_a_snapshot(
    hub: Hub, server: fakeredis.FakeServer
) -> None:
    box = hub.subscribe()
    messages(box, lambda m: len(m) >= 1)  # the hub runs
    server.connected = False
    got = messages(box, lambda m: any(x["type"] == "status" for x in m))
    assert got[-1] == {"type": "status", "ts": got[-1]["ts"], "error": UNREACHABLE}
    assert messages(box, lambda m: False, seconds=2) == []  # said once, not at each retry
    server.connected = True
    back = messages(box, lambda m: any(x["type"] == "snapshot" for x in m))
    snapshot = next(x for x in back if x["type"] == "snapshot")
    assert {row[0] for row in snapshot["vehicles"]} == {"car-1", "bus-1", "car-far"}


def test_changes_after_a_return_are_pushed(hub: Hub, server: fakeredis.FakeServer) -> None:
    box = hub.subscribe()
    messages(box, lambda m: len(m) >= 1)
    server.connected = False
    messages(box, lambda m: any(x["type"] == "status" for x in m))
    server.connected = True
    messages(box, lambda m: any(x["type"] == "snapshot" for x in m))
    speed = SpeedLayer(fakeredis.FakeRedis(server=server), "hub:")
    speed.write([rec("vehicle_data", 5, device_id="late", location=[52.44, 13.52], speed=9.0)])
    got = messages(box, lambda m: any(row[0] == "late" for x in m for row in x.get("vehicles", [])))
    assert any(row[0] == "late" for x in got for row in x.get("vehicles", []))


def test_a_status_replaces_a_pending_delta_and_a_delta_joins_a_pending_snapshot() -> None:
    box = Mailbox()
    box.put(Frames(message("delta", [["a", 1, 0, 0, 0, 0, "car", None, None]], ts=1)))
    box.put(Frames(status(UNREACHABLE, ts=2)))
    assert payload(box.take(0) or b"")["type"] == "status"
    box.put(Frames(message("snapshot", [["a", 1, 0, 0, 0, 0, "car", None, None]], ts=3, incidents=[])))
    box.put(Frames(message("delta", [["b", 2, 0, 0, 0, 0, "bus", None, None]], ts=4, incidents=[])))
    merged = payload(box.take(0) or b"")
    assert merged["type"] == "snapshot" and [r[0] for r in merged["vehicles"]] == ["a", "b"] and merged["ts"] == 4


def test_the_head_of_a_message_says_how_old_it_is_in_its_first_bytes() -> None:
    """Readers (the console benchmark, clients that skip a stale message unparsed) match it."""
    head = Frames(message("delta", [["a", 7, 0, 0, 0, 0, "car", None, None]], ts=9)).json()
    assert head.startswith(b'{"type":"delta","event_ms":7,"oldest_ms":7,"ts":9,')
