"""Zones and rules end to end on a real redis-server (and a Redis Cluster): an admin adds them
through the API, the embedded processor (built by ``runtime.embedded``, as the demo builds it)
evaluates them on the events, and ``/api/alerts`` shows what they raised, once each, until an
operator acknowledges it; the lake's ``alerts`` table and the audit log have them too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from app import create_app, dispatcher
from app.store import Store
from pipeline import runtime
from pipeline.alerts import AlertLog
from pipeline.lake import open_lake, read_table
from pipeline.rulebook import RuleBook
from pipeline.rules import RuleEngine, by_stream
from pipeline.validation import Validator
from tests.city import api_settings

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
RING = [[13.50, 52.40], [13.60, 52.40], [13.60, 52.50], [13.50, 52.50], [13.50, 52.40]]
INSIDE, OUTSIDE = [52.45, 13.55], [52.30, 13.30]
ADMIN, OPERATOR, VIEWER = ({"Authorization": f"Bearer {r}-token"} for r in ("admin", "operator", "viewer"))


def at(s: float) -> str:
    return (T0 + timedelta(seconds=s)).isoformat()


def vehicle(s: float, where: list[float], speed: float, device: str = "car-1") -> tuple[str, dict[str, Any]]:
    return "vehicle_data", {"device_id": device, "timestamp": at(s), "location": where, "speed": speed,
                            "vehicle_type": "car"}  # fmt: skip


def station(s: float, aqi: float) -> tuple[str, dict[str, Any]]:
    return "weather_data", {"device_id": "ws-1", "timestamp": at(s), "location": INSIDE, "temperature": 9.0,
                            "airQualityIndex": aqi}  # fmt: skip


@pytest.mark.parametrize("target", ["redis", "redis-cluster"])
def test_events_in_alerts_out_through_the_embedded_processor(
    target: str, prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    client = request.getfixturevalue("real_redis" if target == "redis" else "cluster_redis")
    settings = api_settings(tmp_path, redis_prefix=prefix, alerts_prefix=prefix, rules_reload_seconds=0.1)
    speed = runtime.speed_layer(settings, client)
    app = create_app(settings, store=Store(speed))
    request.addfinalizer(dispatcher(app).stop)  # the first request starts the webhook sender
    web = app.test_client()
    ring = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [RING]}, "properties": {"name": "Mitte"}}
    zone = web.post("/api/zones", json=ring, headers=ADMIN)
    assert zone.status_code == 201, zone.json
    zone_id = zone.json["id"]
    for rule in (
        {"name": "into Mitte", "kind": "zone_enter", "zone": zone_id, "severity": "high"},
        {"name": "speeding in Mitte", "kind": "speed_in_zone", "zone": zone_id, "threshold": 50},
        {"name": "smog", "kind": "aqi", "threshold": 150, "severity": "low"},
    ):
        assert web.post("/api/rules", json=rule, headers=ADMIN).status_code == 201
    assert web.delete(f"/api/zones/{zone_id}", headers=ADMIN).status_code == 409  # rules use it

    bus, proc = runtime.embedded(settings, client)
    proc.start()
    events = [vehicle(0, OUTSIDE, 30), vehicle(1, INSIDE, 30), vehicle(2, INSIDE, 70), vehicle(3, INSIDE, 80),
              vehicle(1, INSIDE, 20, "car-2"), station(0, 100), station(5, 180), station(6, 190)]  # fmt: skip
    for stream, event in events:
        bus.produce(stream, event["device_id"].encode(), orjson.dumps(event))
    for stream, event in events:  # the same events again (a producer's retry): nothing new
        bus.produce(stream, event["device_id"].encode(), orjson.dumps(event))
    assert proc.stop(timeout=60)

    unread = web.get("/api/alerts", headers=VIEWER).json
    got = sorted((a["kind"], a["entity"]) for a in unread["alerts"])
    assert got == [("aqi", "ws-1"), ("speed_in_zone", "car-1"), ("zone_enter", "car-1"), ("zone_enter", "car-2")]
    assert unread["unread"] == 4 and proc.accounting.alerts == 4 and proc.accounting.rules_errors == 0
    newest = unread["alerts"][0]
    assert newest["time"] == max(a["time"] for a in unread["alerts"])
    acked = web.post(f"/api/alerts/{newest['id']}/acknowledge", headers=OPERATOR)
    assert acked.status_code == 200 and acked.json["acknowledged_by"] == "token:operator"
    assert [a["id"] for a in web.get("/api/alerts", headers=VIEWER).json["alerts"]].count(newest["id"]) == 0
    assert len(web.get("/api/alerts?state=all", headers=VIEWER).json["alerts"]) == 4

    fs, root = open_lake(settings.lake_uri)
    lake = read_table(fs, root, "alerts").to_pylist()
    assert sorted(r["alert_id"] for r in lake) == sorted(a["id"] for a in unread["alerts"])
    audit = web.get("/api/audit", headers=ADMIN).json["entries"]
    changes = [(e["action"], e["version"]) for e in audit if e["action"].startswith(("zone_", "rule_"))]
    assert [a for a, _ in changes] == ["rule_add", "rule_add", "rule_add", "zone_add"]  # newest first
    assert [int(v) for _, v in changes] == [4, 3, 2, 1]


@pytest.mark.parametrize("target", ["redis", "redis-cluster"])
def test_a_bus_parked_overnight_in_its_depot_leaves_it_without_entering_it_first(
    target: str, prefix: str, request: pytest.FixtureRequest
) -> None:
    """The engine's own scripts on a real server: a vehicle forgotten inside a zone (silent for
    several active windows while others drive on) is parked with its zone, and takes it back."""
    client = request.getfixturevalue("real_redis" if target == "redis" else "cluster_redis")
    book = RuleBook(client, prefix)
    ring = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [RING]}, "properties": {"name": "Depot"}}
    zone_id, _ = book.add_zone(ring)
    for kind in ("zone_enter", "zone_exit"):
        book.add_rule({"name": kind, "kind": kind, "zone": zone_id})
    engine = RuleEngine(book, AlertLog(client, prefix), reload_s=0.0, active_s=10.0)
    validator = Validator()

    def run(*events: tuple[str, dict[str, Any]]) -> list[tuple[str, str]]:
        records = []
        for stream, event in events:
            record = validator.validate(stream, event)
            assert isinstance(record, dict), record
            records.append((stream, record))
        return [(a["kind"], a["entity"]) for a in engine.evaluate(by_stream(records))]

    assert run(vehicle(0, INSIDE, 0, "bus-7")) == [("zone_enter", "bus-7")]
    for s in (10, 20, 30, 40):
        assert run(vehicle(s, INSIDE, 30, "car-1")) == ([("zone_enter", "car-1")] if s == 10 else [])
    assert client.hkeys(engine.parked_key) == [b"bus-7"]
    assert run(vehicle(45, [52.46, 13.56], 10, "bus-7")) == []
    assert run(vehicle(46, OUTSIDE, 30, "bus-7")) == [("zone_exit", "bus-7")]
    assert not client.exists(engine.parked_key)
