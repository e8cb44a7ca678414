"""History endpoints and batch views over a lake the simulation filled."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import fakeredis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from flask import Flask

from app import create_app
from app.store import Store
from pipeline.lake import LakeWriter, open_lake, read_table
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Validator
from pipeline.views import hourly, route
from producers.simulation import CitySimulation, SimulationConfig
from tests.city import api_settings

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer viewer-token"}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated hours (10-s steps) of a 40-vehicle city, written to a lake."""
    root = tmp_path_factory.mktemp("history")
    sim = CitySimulation(SimulationConfig(vehicles=40, incidents_per_hour=12, start=START, seed=4))
    validator, (fs, path) = Validator(), open_lake(str(root / "lake"))
    writer = LakeWriter(fs, path)
    for _ in range(720):
        by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for stream, _, event in sim.step(10.0):
            rec = validator.validate(stream, event, now=START + timedelta(days=1))
            assert isinstance(rec, dict)
            by_stream[stream].append(rec)
        for stream, recs in by_stream.items():
            writer.add(stream, recs)
    writer.flush()
    return root


@pytest.fixture
def history_app(lake: Path) -> Flask:
    settings = api_settings(lake)  # lake_uri = <lake>/lake
    return create_app(settings, store=Store(SpeedLayer(fakeredis.FakeRedis(), "h:")))


def test_hourly_traffic_matches_the_raw_reports(lake: Path) -> None:
    fs, root = open_lake(str(lake / "lake"))
    rows = hourly("traffic", fs, root, START, START + timedelta(hours=3))
    raw = read_table(fs, root, "traffic_data").to_pylist()
    assert sum(r["reports"] for r in rows) == len(raw)
    first = next(r for r in rows if r["hour"] == START and r["camera_id"] == "cam-001")
    speeds = [r["speed"] for r in raw if r["camera_id"] == "cam-001" and r["event_time"] < START + timedelta(hours=1)]
    assert first["avg_speed_kmh"] == pytest.approx(sum(speeds) / len(speeds), abs=0.01)
    assert {r["hour"] for r in rows} == {START + timedelta(hours=h) for h in range(3)}  # the last report is 12:00


def test_incidents_are_counted_once_in_the_hour_they_started(lake: Path) -> None:
    fs, root = open_lake(str(lake / "lake"))
    rows = hourly("incidents", fs, root, START, START + timedelta(hours=3))
    raw = read_table(fs, root, "emergency_data").to_pylist()
    assert sum(r["incidents"] for r in rows) == len({r["incidentId"] for r in raw}) > 0


def test_a_vehicle_route_is_in_time_order(lake: Path) -> None:
    fs, root = open_lake(str(lake / "lake"))
    points = route(fs, root, "car-0001", START, START + timedelta(minutes=30))
    assert len(points) == 179  # one report per 10-s step: 10:00:10 … 10:29:50
    assert [p["event_time"] for p in points] == sorted(p["event_time"] for p in points)
    assert route(fs, root, "nobody", START, START + timedelta(hours=1)) == []


def test_history_api_as_json_csv_and_parquet(history_app: Flask) -> None:
    client = history_app.test_client()
    q = urlencode({"start": START.isoformat().replace("+00:00", "Z"), "end": (START + timedelta(hours=2)).isoformat()})
    body = client.get(f"/api/history/weather?{q}", headers=AUTH).json
    assert body["count"] > 0 and {"station", "avg_temperature_c", "avg_aqi"} <= set(body["rows"][0])
    as_csv = client.get(f"/api/history/weather?{q}&format=csv", headers=AUTH)
    assert as_csv.mimetype == "text/csv" and "attachment" in as_csv.headers["Content-Disposition"]
    assert len(list(csv.DictReader(io.StringIO(as_csv.data.decode())))) == body["count"]
    as_parquet = client.get(f"/api/history/weather?{q}&format=parquet", headers=AUTH)
    assert pq.read_table(pa.BufferReader(as_parquet.data)).num_rows == body["count"]
    route_body = client.get(f"/api/history/vehicles/car-0001/route?{q}", headers=AUTH).json
    assert route_body["count"] == 719  # 10:00:10 … 11:59:50, the range ends before 12:00


@pytest.mark.parametrize(
    ("query", "status"),
    [("start=2026-11-27T00:00:00&end=2026-11-26T00:00:00", 400), ("start=yesterday", 400),
     ("start=2026-01-01T00:00:00&end=2026-11-01T00:00:00", 400), ("format=xml", 400)],
)  # fmt: skip
def test_history_rejects_bad_ranges_and_formats(history_app: Flask, query: str, status: int) -> None:
    resp = history_app.test_client().get(f"/api/history/traffic?{query}", headers=AUTH)
    assert resp.status_code == status and resp.is_json
    assert history_app.test_client().get("/api/history/nope", headers=AUTH).status_code == 404
