"""The change stream as the speed-layer script writes it, read by ``ChangeFollower``."""

from __future__ import annotations

import time

import fakeredis

from pipeline.changes import MAX_HOLD_S, Change, ChangeFollower, nothing_changed
from pipeline.speed_layer import SpeedLayer, SpeedLayerConfig
from tests.unit.test_speed_layer import rec


def test_an_entry_names_the_changed_ids_per_kind() -> None:
    change = Change.parse({b"v": b'["car-1"]', b"t": b"{}", b"w": b"[]", b"i": b'["i-1"]', b"part": b""})
    assert change.ids == {"v": ["car-1"], "t": [], "w": [], "i": ["i-1"]} and not change.empty
    assert Change.parse({b"v": b"{}", b"part": b"ab:last"}) == Change(
        {"v": [], "t": [], "w": [], "i": []}, "ab", "last"
    )


def test_the_follower_reads_changes_made_after_it_started() -> None:
    layer = SpeedLayer(fakeredis.FakeRedis(), "ch:")
    layer.write([rec("vehicle_data", 0, device_id="before", speed=1.0)])
    follower = ChangeFollower(layer.client, layer.keys.changes)
    changed = nothing_changed()
    assert not follower.read(changed, 0.01)  # the stream's past is not news
    layer.write([rec("vehicle_data", 1, device_id="after", speed=1.0)])
    assert follower.read(changed, 0.01) and changed["v"] == {"after"}


def test_the_follower_waits_for_a_split_write_to_end() -> None:
    client = fakeredis.FakeRedis()
    reader, writer = SpeedLayer(client, "sp:"), SpeedLayer(client, "sp:", SpeedLayerConfig(chunk=2))
    follower = ChangeFollower(client, reader.keys.changes)
    follower.read(nothing_changed(), 0.01)
    records = [rec("vehicle_data", 0, device_id=f"v{i}", speed=1.0) for i in range(4)]
    first, last = writer.encode(records)
    writer.apply(first)
    changed = nothing_changed()
    follower.read(changed, 0.01)
    assert follower.hold(0.0) > 0  # half a write: wait for the rest
    writer.apply(last)
    follower.read(changed, 0.01)
    assert follower.hold(0.0) == 0 and changed["v"] == {"v0", "v1", "v2", "v3"}


def test_a_writer_that_died_mid_write_is_waited_for_at_most_max_hold() -> None:
    client = fakeredis.FakeRedis()
    writer = SpeedLayer(client, "dead:", SpeedLayerConfig(chunk=1))
    follower = ChangeFollower(client, writer.keys.changes)
    follower.read(nothing_changed(), 0.01)
    writer.apply(writer.encode([rec("vehicle_data", 0, device_id=f"v{i}", speed=1.0) for i in range(2)])[0])
    follower.read(nothing_changed(), 0.01)
    assert follower.hold(time.monotonic() + MAX_HOLD_S + 0.01) == 0
