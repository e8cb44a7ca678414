"""The city simulation through the embedded pipeline into a real redis-server (and a Redis
Cluster of three masters) and a lake.

Checks that the speed layer holds what the events imply, that the lake holds every valid
event and every injected bad one as a dead letter, and that the embedded store ends in
the same state as real Redis for the same input.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import fakeredis
import orjson
import pyarrow as pa
import pytest
import redis

from pipeline.bus import InProcessBus
from pipeline.lake import DEADLETTER, LakeWriter, open_lake, read_table
from pipeline.processor import BatchProcessor, Processor
from pipeline.rebuild import rebuild
from pipeline.schemas import STREAMS
from pipeline.speed_layer import SpeedLayer, SpeedLayerConfig
from producers.simulation import CitySimulation, SimulationConfig
from producers.sinks import Event
from tests.city import BAD

SECONDS = 240


@pytest.fixture(scope="module")
def events() -> list[Event]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=SECONDS + 60)
    config = SimulationConfig(
        vehicles=120,
        traffic_sensors=8,
        weather_stations=2,
        incidents_per_hour=90,
        sensor_interval_s=10,
        weather_interval_s=30,
        seed=11,
        start=start,
    )
    sim = CitySimulation(config)
    out: list[Event] = []
    for _ in range(SECONDS):
        out.extend(sim.step(1.0))
    assert {s for s, _, _ in out} == set(STREAMS), "the scenario must exercise every stream"
    return out


def run_pipeline(client: redis.Redis, prefix: str, lake_dir: Path, events: list[Event]) -> Processor:
    fs, root = open_lake(str(lake_dir))
    bus = InProcessBus(list(STREAMS), capacity=5000)
    speed = SpeedLayer(client, prefix, SpeedLayerConfig(active_s=120))
    proc = Processor(bus, BatchProcessor(speed, LakeWriter(fs, root, max_rows=20_000)), max_batch=2000)
    proc.start()
    bad_at = {len(events) * (i + 1) // (len(BAD) + 1): bad for i, bad in enumerate(BAD)}
    for i, (stream, key, event) in enumerate(events):
        bus.produce(stream, key.encode(), orjson.dumps(event))
        if i in bad_at:
            bus.produce(bad_at[i][0], None, bad_at[i][1])
    assert proc.stop(timeout=120)
    return proc


def expected_state(events: list[Event]) -> dict[str, Any]:
    """What the speed layer must hold, computed from the events alone."""
    vehicles: dict[str, dict[str, Any]] = {}
    traffic: dict[str, dict[str, Any]] = {}
    incidents: dict[str, dict[str, Any]] = {}
    for stream, _, ev in events:
        ts = datetime.fromisoformat(ev["timestamp"])
        if stream in ("vehicle_data", "gps_data"):
            table, key = vehicles, ev["device_id"]
        elif stream == "traffic_data":
            table, key = traffic, ev["camera_id"]
        elif stream == "emergency_data":
            table, key = incidents, ev["incidentId"]
        else:
            continue
        if key not in table or ts >= table[key]["_ts"]:
            table[key] = {**table.get(key, {}), **ev, "_ts": ts}
    newest = max(v["_ts"] for v in vehicles.values())
    active = {k for k, v in vehicles.items() if v["_ts"] >= newest - timedelta(seconds=120)}
    return {"vehicles": vehicles, "active": active, "traffic": traffic, "incidents": incidents}


@pytest.fixture(scope="module", params=["redis", "redis-cluster"])
def real_run(
    events: list[Event], request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The pipeline run into one redis-server, or into a Redis Cluster of three masters."""
    if request.param == "redis-cluster":
        client: Any = request.getfixturevalue("cluster_redis")
    else:
        client = redis.Redis(host="127.0.0.1", port=request.getfixturevalue("redis_server").port)
    lake = tmp_path_factory.mktemp("lake-real")
    proc = run_pipeline(client, "itest:", lake, events)
    return {"proc": proc, "speed": SpeedLayer(client, "itest:"), "lake": lake, "client": client}


def test_accounting_adds_up(real_run: dict[str, Any], events: list[Event]) -> None:
    acc = real_run["proc"].accounting.snapshot()
    totals = acc["totals"]
    assert totals["received"] == len(events) + len(BAD)
    assert totals["received"] == totals["valid"] + totals["dead_letters"]
    assert totals["dead_letters"] == len(BAD)
    assert totals["valid"] == totals["speed_layer"] == totals["lake_rows"] == len(events)
    per_stream = Counter(s for s, _, _ in events)
    bad_per_stream = Counter(s for s, _ in BAD)
    for stream in STREAMS:
        counts = acc["streams"][stream]
        assert counts["valid"] == per_stream[stream]
        assert counts["dead_letters"] == bad_per_stream[stream]


def test_speed_layer_holds_what_the_events_imply(real_run: dict[str, Any], events: list[Event]) -> None:
    speed: SpeedLayer = real_run["speed"]
    want = expected_state(events)
    assert set(speed.active_vehicle_ids()) == want["active"]
    for vid, ev in want["vehicles"].items():
        state = speed.vehicle(vid)
        assert state is not None
        assert int(state["ts"]) == int(ev["_ts"].timestamp() * 1000)
        assert float(state["lat"]) == pytest.approx(ev["location"][0], abs=1e-9)
        assert float(state["lon"]) == pytest.approx(ev["location"][1], abs=1e-9)
        assert state["vehicle_type"] == ev["vehicle_type"]
    for cam, ev in want["traffic"].items():
        (state,) = speed.states("t", [cam])
        assert int(state["vehicle_count"]) == ev["vehicle_count"]
        assert state["congestion_level"] == ev["congestion_level"]
    active_incidents = {k for k, v in want["incidents"].items() if v["status"] == "Active"}
    assert set(speed.index_ids("i")) == active_incidents
    assert set(speed.resolved_incident_ids(1000)) == set(want["incidents"]) - active_incidents
    summary = speed.summary()
    assert summary["active_vehicles"] == len(want["active"])
    assert summary["active_incidents"] == len(active_incidents)


def test_lake_holds_every_valid_event_and_the_dead_letters(real_run: dict[str, Any], events: list[Event]) -> None:
    fs, root = open_lake(str(real_run["lake"]))
    per_stream = Counter(s for s, _, _ in events)
    for stream in STREAMS:
        table = read_table(fs, root, stream)
        assert table.num_rows == per_stream[stream]
        assert table.column("event_id").null_count == 0
        assert len(set(table.column("event_id").to_pylist())) == per_stream[stream]
    dead = read_table(fs, root, DEADLETTER).to_pylist()
    assert sorted(d["raw"] for d in dead) == sorted(raw.decode() for _, raw in BAD)
    assert all(d["reason"] for d in dead)


def test_lake_reads_with_duckdb_over_pyarrow(real_run: dict[str, Any], events: list[Event]) -> None:
    fs, root = open_lake(str(real_run["lake"]))
    vehicles = read_table(fs, root, "vehicle_data")
    assert vehicles.schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    rows = duckdb.sql("SELECT vehicle_type, count(*) FROM vehicles GROUP BY 1 ORDER BY 1").fetchall()
    want = Counter(ev["vehicle_type"] for s, _, ev in events if s == "vehicle_data")
    assert dict(rows) == dict(want)


def test_embedded_store_ends_in_the_same_state_as_redis(
    real_run: dict[str, Any], events: list[Event], tmp_path: Path
) -> None:
    fake = fakeredis.FakeRedis()
    run_pipeline(fake, "itest:", tmp_path, events)
    assert SpeedLayer(fake, "itest:").snapshot() == real_run["speed"].snapshot()
    fs_a, root_a = open_lake(str(real_run["lake"]))
    fs_b, root_b = open_lake(str(tmp_path))
    for stream in STREAMS:
        a = read_table(fs_a, root_a, stream).drop_columns(["ingest_time"]).sort_by("event_id")
        b = read_table(fs_b, root_b, stream).drop_columns(["ingest_time"]).sort_by("event_id")
        assert a.equals(b), stream


def test_speed_layer_rebuilds_from_the_lake(real_run: dict[str, Any]) -> None:
    rebuilt = SpeedLayer(real_run["client"], "rebuilt:", SpeedLayerConfig(active_s=120))
    fs, root = open_lake(str(real_run["lake"]))
    counts = rebuild(rebuilt, fs, root)
    assert sum(counts.values()) == real_run["proc"].accounting.snapshot()["totals"]["valid"]
    assert rebuilt.snapshot() == real_run["speed"].snapshot()
