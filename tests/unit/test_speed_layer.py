"""Speed-layer semantics on the embedded store, in one shard and split into three.

tests/integration/test_speed_layer_redis.py runs these same tests against a real
redis-server and a Redis Cluster by overriding the ``client`` and ``shards`` fixtures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import orjson
import pytest
import redis
from redis.cluster import RedisCluster

from pipeline.speed_layer import EXTRA_BYTES, SpeedLayer, SpeedLayerConfig
from pipeline.validation import DeadLetter, Record, Validator

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
VALIDATOR = Validator()


@pytest.fixture
def client(fake_redis: fakeredis.FakeRedis) -> redis.Redis:
    return fake_redis


@pytest.fixture(params=[None, 3], ids=["1-shard", "3-shards"])
def shards(request: pytest.FixtureRequest) -> int | None:
    """Shards of the speed layer (None: the client's default)."""
    return request.param


@pytest.fixture
def layer(client: redis.Redis, prefix: str, shards: int | None) -> SpeedLayer:
    return SpeedLayer(client, prefix, SpeedLayerConfig(active_s=60, track_len=5), shards)


def changes(layer: SpeedLayer) -> list[dict[bytes, bytes]]:
    """Every change notification of every shard's stream, oldest first (entry ids are times)."""
    replies: list[Any] = [layer.client.xrange(stream) for stream in layer.change_streams()]
    entries = [e for reply in replies for e in reply]
    entries.sort(key=lambda e: tuple(int(n) for n in e[0].split(b"-")))
    return [fields for _, fields in entries]


def rec(stream: str, seconds: float, **fields: Any) -> tuple[str, Record]:
    ts = (T0 + timedelta(seconds=seconds)).isoformat()
    event = {"timestamp": ts, "location": [52.44, 13.52], **fields}
    out = VALIDATOR.validate(stream, event, now=T0 + timedelta(days=1))
    assert isinstance(out, dict), out
    return stream, out


def vehicle(seconds: float, device: str = "car-1", lat: float = 52.44, **fields: Any) -> tuple[str, Record]:
    fields.setdefault("vehicle_type", "car")
    return rec("vehicle_data", seconds, device_id=device, speed=30.0, location=[lat, 13.52], **fields)


def test_latest_vehicle_state_with_geo_and_track(layer: SpeedLayer) -> None:
    layer.write([vehicle(0, lat=52.430), vehicle(1, lat=52.431), vehicle(2, lat=52.432)])
    state = layer.vehicle("car-1")
    assert state is not None
    assert float(state["lat"]) == 52.432
    assert [p[0] for p in state["track"]] == [52.432, 52.431, 52.430]
    assert layer.active_vehicle_ids() == ["car-1"]
    near = layer.client.geosearch(layer.keys_of("car-1").v_geo, longitude=13.52, latitude=52.432, radius=50, unit="m")
    assert near == [b"car-1"]


def test_older_event_never_moves_a_vehicle_back(layer: SpeedLayer) -> None:
    layer.write([vehicle(10, lat=52.44)])
    layer.write([vehicle(5, lat=52.40)])  # late arrival
    state = layer.vehicle("car-1")
    assert state is not None and float(state["lat"]) == 52.44
    assert len(state["track"]) == 1


def test_out_of_order_within_one_batch_keeps_the_newest(layer: SpeedLayer) -> None:
    layer.write([vehicle(3, lat=52.43), vehicle(1, lat=52.41), vehicle(2, lat=52.42)])
    state = layer.vehicle("car-1")
    assert state is not None and float(state["lat"]) == 52.43


def test_two_reports_of_one_instant_leave_the_map_where_the_state_is(layer: SpeedLayer) -> None:
    """Equal times merge (e.g. a fast clock's reports, all re-timed to their arrival): the map's
    position follows the merged state, and the track keeps one point for the instant."""
    layer.write([vehicle(5, lat=52.41), vehicle(5, lat=52.45)])
    state = layer.vehicle("car-1")
    assert state is not None and float(state["lat"]) == 52.45 and len(state["track"]) == 1
    (pos,) = layer.client.geopos(layer.keys_of("car-1").v_geo, "car-1")
    assert pos is not None and pos[1] == pytest.approx(52.45, abs=1e-5)


def test_replaying_a_batch_changes_nothing(layer: SpeedLayer) -> None:
    batch = [vehicle(i, device=f"car-{i % 3}", lat=52.43 + i / 1000) for i in range(9)]
    batch += [rec("traffic_data", 5, device_id="cam-1", camera_id="cam-1", speed=8.0, congestion_level="heavy")]
    batch += [rec("emergency_data", 4, device_id="u1", incidentId="i-1", incident_type="fire", status="Active")]
    layer.write(batch)
    first = layer.snapshot()
    layer.write(batch)
    layer.write(list(reversed(batch)))
    assert layer.snapshot() == first


def test_gps_and_telemetry_merge_into_one_vehicle(layer: SpeedLayer) -> None:
    layer.write([vehicle(1, make="VW"), rec("gps_data", 1, device_id="car-1", speed=31.0, accuracy=3.0)])
    state = layer.vehicle("car-1")
    assert state is not None
    assert state["make"] == "VW" and float(state["accuracy"]) == 3.0
    assert len(state["track"]) == 1  # same instant, one point


def test_stale_vehicles_leave_the_active_set_and_the_map(layer: SpeedLayer) -> None:
    layer.write([vehicle(0, device="parked"), vehicle(0, device="moving")])
    layer.write([vehicle(61, device="moving")])  # 61 s of event time later; window is 60 s
    assert layer.active_vehicle_ids() == ["moving"]
    assert layer.active_count("car") == 1
    assert layer.client.zscore(layer.keys_of("parked").v_geo, "parked") is None
    assert layer.vehicle("parked") is not None  # state kept (with a TTL) for lookups
    assert layer.client.ttl(layer.keys_of("parked").entity("v", "parked")) > 0


def test_incident_lifecycle(layer: SpeedLayer) -> None:
    inc = {"device_id": "unit-1", "incidentId": "i-9", "incident_type": "accident", "severity": "high"}
    layer.write([rec("emergency_data", 0, status="Active", **inc)])
    assert layer.index_ids("i") == ["i-9"]
    layer.write([rec("emergency_data", 300, status="Resolved", **inc)])
    assert layer.index_ids("i") == []
    assert layer.resolved_incident_ids() == ["i-9"]
    layer.write([rec("emergency_data", 100, status="Active", **inc)])  # a stale Active report
    assert layer.index_ids("i") == []
    (state,) = layer.states("i", ["i-9"])
    assert state["status"] == "Resolved" and state["first_seen"] < state["resolved_at"]


def test_traffic_congestion_and_summary(layer: SpeedLayer) -> None:
    layer.write(
        [
            rec("traffic_data", 0, device_id="s1", camera_id="s1", speed=5.0, congestion_level="severe"),
            rec("traffic_data", 0, device_id="s2", camera_id="s2", speed=45.0, congestion_level="free"),
            rec("weather_data", 0, device_id="w1", temperature=3.5, weather_condition="Fog"),
            vehicle(0, device="bus-1", vehicle_type="bus"),
        ]
    )
    summary = layer.summary()
    assert summary["congested_segments"] == 1
    assert summary["traffic_sensors"] == 2 and summary["weather_stations"] == 1
    assert summary["vehicles_by_type"]["bus"] == 1
    worst = layer.client.zrevrange(layer.keys_of("s1").t_congestion, 0, 0)
    assert worst == [b"s1"]
    layer.write([rec("traffic_data", 10, device_id="s1", camera_id="s1", speed=40.0, congestion_level="free")])
    assert layer.summary()["congested_segments"] == 0


def test_change_notifications_name_what_changed(layer: SpeedLayer) -> None:
    batch = [vehicle(0, device="a"), vehicle(1, device="a"), vehicle(0, device="b")]
    layer.write(batch)
    entries = changes(layer)
    # one per call that changed state (one per shard written), and a split write's last call
    calls = layer.encode(batch)
    assert len(entries) == len({layer.shard("a"), layer.shard("b")}) + (len(calls) > 1 and not calls[-1].events)
    changed = [vid for fields in entries for vid in orjson.loads(fields[b"v"])]
    assert sorted(changed) == ["a", "b"]


def test_large_batches_are_chunked(client: redis.Redis, prefix: str, shards: int | None) -> None:
    layer = SpeedLayer(client, prefix, SpeedLayerConfig(chunk=100), shards)
    layer.write([vehicle(0, device=f"v{i}") for i in range(450)])
    assert layer.active_count() == 450


def test_a_write_split_into_chunks_marks_its_last_chunk(client: redis.Redis, prefix: str, shards: int | None) -> None:
    layer = SpeedLayer(client, prefix, SpeedLayerConfig(chunk=2), shards)
    layer.write([vehicle(0, device=f"v{i}") for i in range(5)])
    first = changes(layer)
    if not isinstance(layer.client, RedisCluster):
        # the last call of the write is the last written; across a cluster's nodes entries of one
        # millisecond have no order (pipeline.changes tolerates a "last" seen before a "more")
        assert first[-1][b"part"].endswith(b":last")
    states = [f[b"part"].decode().split(":") for f in first]
    assert len({write_id for write_id, _ in states}) == 1  # one write, however many calls
    assert sorted(state for _, state in states) == ["last"] + ["more"] * (len(states) - 1)
    assert layer.shards > 1 or len(states) == 3  # 5 vehicles, 2 a call
    layer.write([vehicle(0, device="alone")])
    if layer.shards == 1:  # one call: nothing to wait for
        assert changes(layer)[len(first)][b"part"] == b""
    before = len(changes(layer))
    layer.write([vehicle(-5, device="v0"), vehicle(-5, device="v1"), vehicle(-5, device="v2")])  # older: a no-op
    # the older events changed nothing, yet its last call still tells readers the write ended
    (end,) = changes(layer)[before:]
    assert end[b"part"].endswith(b":last") and end[b"part"].split(b":")[0] != states[0][0].encode()
    assert orjson.loads(end[b"v"]) in ([], {})


def test_the_newest_dead_letters_are_kept_newest_first_with_their_reasons(
    client: redis.Redis, prefix: str, shards: int | None
) -> None:
    config = SpeedLayerConfig(chunk=2, dead_letters_kept=4, dead_letter_raw_chars=10)
    layer = SpeedLayer(client, prefix, config, shards)

    def letter(i: int) -> DeadLetter:
        return DeadLetter("gps_data", f"reason {i}", "x" * 50, f"kafka:gps/0@{i}", T0 + timedelta(seconds=i))

    layer.write([], [letter(0), letter(1)])  # a batch of dead letters only still records them
    layer.write([vehicle(0, device=f"v{i}") for i in range(5)], [letter(i) for i in range(2, 7)])  # split write
    assert layer.active_count() == 5
    shown = layer.dead_letters(10)
    assert [d["reason"] for d in shown] == ["reason 6", "reason 5", "reason 4", "reason 3"]
    received_ms = int((T0 + timedelta(seconds=6)).timestamp() * 1000)
    assert shown[0] == {"stream": "gps_data", "reason": "reason 6", "source": "kafka:gps/0@6",
                        "received_ms": received_ms, "raw": "x" * 10}  # fmt: skip
    # one notification per call that changed state, and the write's last; dead letters change no state
    calls = layer.encode([vehicle(0, device=f"v{i}") for i in range(5)])  # the split write's calls
    assert len(changes(layer)) == sum(1 for c in calls if c.events) + (0 if calls[-1].events else 1)
    assert layer.shards > 1 or len(calls) == 3


def gps_fix(seconds: float, device: str = "car-1", **fields: Any) -> tuple[str, Record]:
    """A GPS report without a location, as some public simulators send them."""
    return rec("gps_data", seconds, device_id=device, location=None, **fields)


def test_a_gps_fix_without_a_position_updates_the_vehicle_but_not_its_place(layer: SpeedLayer) -> None:
    layer.write([vehicle(0, lat=52.43)])
    layer.write([gps_fix(5, speed=12.5, heading=90.0)])
    state = layer.vehicle("car-1")
    assert state is not None
    assert (float(state["speed"]), float(state["heading"]), state["src"]) == (12.5, 90.0, "gps")
    assert int(state["ts"]) == int((T0 + timedelta(seconds=5)).timestamp() * 1000)
    assert float(state["lat"]) == 52.43 and [p[0] for p in state["track"]] == [52.43]  # no new point
    (pos,) = layer.client.geopos(layer.keys_of("car-1").v_geo, "car-1")
    assert pos is not None and round(pos[1], 5) == 52.43
    (row,) = orjson.loads(layer.vehicle_rows())
    assert row[:5] == ["car-1", int(state["ts"]), 52.43, 13.52, 12.5]


def test_a_vehicle_that_never_had_a_position_is_kept_without_one(layer: SpeedLayer) -> None:
    layer.write([gps_fix(0, device="blind", speed=20.0), vehicle(0, device="seen")])
    state = layer.vehicle("blind")
    assert state is not None and float(state["speed"]) == 20.0
    assert "lat" not in state and "lon" not in state and state["track"] == []
    assert layer.client.geopos(layer.keys_of("blind").v_geo, "blind") == [None]
    assert sorted(layer.active_vehicle_ids()) == ["blind", "seen"]  # it reports: it is active
    # a map row has a place: the map and the locations list leave it out
    assert [row[0] for row in orjson.loads(layer.vehicle_rows())] == ["seen"]
    assert orjson.loads(layer.vehicle_rows(["blind"])) == []
    layer.write([rec("gps_data", 1, device_id="blind", speed=21.0, location=[52.45, 13.5])])  # its first fix
    assert [row[0] for row in orjson.loads(layer.vehicle_rows(["blind"]))] == ["blind"]


def test_a_positionless_report_brings_a_stale_vehicle_back_where_it_was(layer: SpeedLayer) -> None:
    layer.write([vehicle(0, lat=52.43), vehicle(0, device="other")])
    layer.write([vehicle(61, device="other")])  # car-1 goes stale: off the map
    assert layer.client.geopos(layer.keys_of("car-1").v_geo, "car-1") == [None]
    layer.write([gps_fix(62, speed=3.0)])
    (pos,) = layer.client.geopos(layer.keys_of("car-1").v_geo, "car-1")
    assert pos is not None and round(pos[1], 5) == 52.43
    assert "car-1" in layer.active_vehicle_ids()


def test_extra_fields_are_kept_in_one_small_field(layer: SpeedLayer) -> None:
    layer.write([rec("traffic_data", 0, device_id="cam", cameraId="cam", direction="North", lanes=[1, 2])])
    (state,) = layer.states("t", ["cam"])
    assert orjson.loads(state["extra"]) == {"direction": "North", "lanes": [1, 2]}
    many = {f"field_{i:03d}": "x" * 20 for i in range(100)}  # ~3 KB of extras
    layer.write([rec("traffic_data", 1, device_id="cam", camera_id="cam", **many)])
    (state,) = layer.states("t", ["cam"])
    kept = orjson.loads(state["extra"])
    assert len(state["extra"]) <= EXTRA_BYTES and kept["_more"] == 100 - (len(kept) - 1)
    assert list(kept)[:2] == ["field_000", "field_001"]  # the first ones, in the order sent


def test_a_fast_clock_never_freezes_a_vehicle(layer: SpeedLayer) -> None:
    received = T0 + timedelta(seconds=10)
    ahead = {"timestamp": "2999-01-01T00:00:00Z", "device_id": "car-1", "location": [52.41, 13.5], "speed": 5.0}
    skewed = VALIDATOR.validate("gps_data", ahead, now=received)
    assert isinstance(skewed, dict)
    layer.write([vehicle(0), ("gps_data", skewed)])
    state = layer.vehicle("car-1")
    assert state is not None and int(state["ts"]) == int(received.timestamp() * 1000)
    assert float(state["clock_skew_s"]) > 3e10 and float(state["lat"]) == 52.41
    layer.write([vehicle(20, lat=52.42)])  # the next report on time moves it on
    state = layer.vehicle("car-1")
    assert state is not None and float(state["lat"]) == 52.42 and float(state["clock_skew_s"]) == 0


def test_an_acknowledgement_is_a_script_write_with_its_change_notification(layer: SpeedLayer) -> None:
    layer.write([rec("emergency_data", 0, device_id="u1", incidentId="i-1", incident_type="fire", status="Active")])
    before = len(changes(layer))
    assert layer.annotate_incident("i-1", {"acknowledged_by": "olga", "acknowledged_at": "2026-11-27T12:01:00+00:00"})
    state = layer.states("i", ["i-1"])[0]
    assert state["acknowledged_by"] == "olga" and state["ts"] == str(int(T0.timestamp() * 1000))  # time unmoved
    (change,) = changes(layer)[before:]
    assert orjson.loads(change[b"i"]) == ["i-1"] and change[b"part"] == b""
    assert not layer.annotate_incident("nowhere", {"acknowledged_by": "olga"})  # no incident is made up
    assert layer.states("i", ["nowhere"]) == [] and len(changes(layer)) == before + 1
