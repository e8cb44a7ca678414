"""The push hub's honesty: a heartbeat when the city is quiet, a status when the speed layer is
away, a fresh snapshot when it is back. Unit tests on the embedded store (no sockets)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import fakeredis
import orjson
import pytest
import redis

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


def row_reads(hub: Hub) -> list[Any]:
    """The ids of each of the hub's reads of vehicle rows from now on (None: the whole fleet)."""
    calls: list[Any] = []
    read = hub.store.vehicle_rows

    def counted(ids: Any = None, limit: int = 1_000_000) -> bytes:
        calls.append(ids)
        return read(ids, limit)

    hub.store.vehicle_rows = counted  # type: ignore[method-assign]
    return calls


def test_a_snapshot_is_the_fleet_the_hub_has_sent_not_a_new_read_of_it(hub: Hub, server: fakeredis.FakeServer) -> None:
    """The whole fleet is read once, when the hub starts; later clients' snapshots hold every
    vehicle pushed since, without reading the fleet again (20,000 rows took a console's first
    render up to a second of Redis time)."""
    reads = row_reads(hub)
    first = hub.subscribe()
    assert {row[0] for row in hub.snapshot_frames().msg["vehicles"]} == {"car-1", "bus-1", "car-far"}
    speed = SpeedLayer(fakeredis.FakeRedis(server=server), "hub:")
    speed.write([rec("vehicle_data", 1, device_id="new-1", location=[52.44, 13.52], speed=12.0)])
    messages(first, lambda m: any(row[0] == "new-1" for x in m for row in x["vehicles"]))
    hub.subscribe()
    rows = {row[0]: row for row in hub.snapshot_frames().msg["vehicles"]}
    assert set(rows) == {"car-1", "bus-1", "car-far", "new-1"}
    assert orjson.loads(speed.vehicle_rows(["new-1"], 1))[0] == rows["new-1"]  # the row as Redis has it
    assert reads.count(None) == 1


def test_vehicles_unseen_for_the_active_window_leave_the_snapshot(hub: Hub, server: fakeredis.FakeServer) -> None:
    box = hub.subscribe()
    speed = SpeedLayer(fakeredis.FakeRedis(server=server), "hub:")
    speed.write([rec("vehicle_data", -125, device_id="ahead", location=[52.44, 13.52], speed=12.0)])  # 125 s on
    messages(box, lambda m: any(row[0] == "ahead" for x in m for row in x["vehicles"]))
    # the seeded vehicles were seen 3-5 s ago: now 128-130 s before the newest event, past 120 s
    assert [row[0] for row in hub.snapshot_frames().msg["vehicles"]] == ["ahead"]


def test_a_client_joining_at_any_moment_ends_with_the_city_the_speed_layer_holds(
    hub: Hub, server: fakeredis.FakeServer
) -> None:
    """Each vehicle is written once, so a client whose snapshot missed a delta it was not sent
    would lack that vehicle for good. Clients join while the writes go on: each one's snapshot
    plus what its mailbox got afterwards is every vehicle Redis lists."""
    speed = SpeedLayer(fakeredis.FakeRedis(server=server), "hub:")
    held: list[tuple[Mailbox, set[str]]] = []
    hub.subscribe()
    for step in range(24):
        speed.write([rec("vehicle_data", 1, device_id=f"v{step}-{i}", location=[52.44, 13.52], speed=5.0)
                     for i in range(3)])  # fmt: skip
        if step % 3 == 0:
            box = hub.subscribe()
            held.append((box, {row[0] for row in hub.snapshot_frames().msg["vehicles"]}))
        time.sleep(0.15)
    everyone = {row[0] for row in orjson.loads(speed.vehicle_rows(None, 1_000_000))}
    assert len(everyone) == 3 + 24 * 3
    for box, seen in held:
        for msg in messages(box, lambda m, seen=seen: everyone <= seen | {r[0] for x in m for r in x["vehicles"]}):
            seen |= {row[0] for row in msg.get("vehicles", [])}
        assert seen == everyone


def test_a_client_waiting_for_the_first_read_is_told_when_the_speed_layer_is_away(
    server: fakeredis.FakeServer,
) -> None:
    speed = SpeedLayer(fakeredis.FakeRedis(server=server), "hub:")
    seed(speed)
    hub = Hub(Store(speed))
    server.connected = False
    try:
        started = time.monotonic()
        with pytest.raises(redis.ConnectionError, match=UNREACHABLE):
            hub.snapshot_frames(timeout=20)
        assert time.monotonic() - started < 10  # said when found, not after the wait
        server.connected = True
        deadline = time.monotonic() + 10
        while not hub.reachable and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(hub.snapshot_frames().msg["vehicles"]) == 3
    finally:
        hub.close_all()


def test_a_hub_without_clients_stops_following_and_the_next_client_starts_it(
    hub: Hub, server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One of several server processes whose consoles all left costs Redis nothing."""
    monkeypatch.setattr(app.hub, "IDLE_S", 1.0)
    calls = row_reads(hub)
    box = hub.subscribe()
    messages(box, lambda m: len(m) >= 1)
    hub.unsubscribe(box)
    time.sleep(2.0)  # idle past IDLE_S
    calls.clear()
    speed = SpeedLayer(fakeredis.FakeRedis(server=server), "hub:")
    speed.write([rec("vehicle_data", 1, device_id="while-idle", location=[52.44, 13.52], speed=3.0)])
    time.sleep(1.5)
    assert calls == []  # the change was not followed: nobody was there to see it
    assert "while-idle" in {row[0] for row in hub.snapshot_frames().msg["vehicles"]}
    assert calls == [None]  # read whole again when asked
