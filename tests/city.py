"""A small, fixed city in the speed layer, for API and console tests."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from pipeline.lake import LakeWriter
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Validator
from producers.simulation import CitySimulation, SimulationConfig

NOW = datetime.now(UTC).replace(microsecond=0)
TOKENS = "viewer:viewer-token,operator:operator-token,admin:admin-token,ingest:ingest-token"
USERS = "olga:operator:pw-o,vic:viewer:pw-v,ada:admin:pw-a"
_VALIDATOR = Validator()


def rec(stream: str, ago_s: float, **fields: Any) -> tuple[str, dict[str, Any]]:
    """A validated record of ``stream``, ``ago_s`` seconds before now (the call, not the import:
    a long test session must not age the city past the active window)."""
    now = datetime.now(UTC).replace(microsecond=0)
    event = {"timestamp": (now - timedelta(seconds=ago_s)).isoformat(), **fields}
    out = _VALIDATOR.validate(stream, event)
    assert isinstance(out, dict), out
    return stream, out


def seed(speed: SpeedLayer) -> None:
    """Three vehicles, two traffic sensors, a weather station, one active and one resolved incident."""
    speed.write(
        [
            rec("vehicle_data", 5, device_id="car-1", location=[52.440, 13.520], speed=31.0, vehicle_type="car"),
            rec("vehicle_data", 4, device_id="bus-1", location=[52.445, 13.530], speed=22.0, vehicle_type="bus"),
            rec("vehicle_data", 3, device_id="car-far", location=[52.500, 13.700], speed=50.0, vehicle_type="car"),
            rec("traffic_data", 2, device_id="cam-1", camera_id="cam-1", location=[52.44, 13.52], speed=40.0,
                congestion_level="free"),
            rec("traffic_data", 2, device_id="cam-2", camera_id="cam-2", location=[52.44, 13.53], speed=4.0,
                congestion_level="severe"),
            rec("weather_data", 1, device_id="ws-1", location=[52.44, 13.52], temperature=7.5,
                weather_condition="Rain"),
            rec("emergency_data", 60, device_id="u1", incidentId="i-1", incident_type="fire", status="Active",
                location=[52.44, 13.52], severity="high"),
            rec("emergency_data", 50, device_id="u2", incidentId="i-2", incident_type="medical", status="Active",
                location=[52.44, 13.52], severity="low"),
            rec("emergency_data", 10, device_id="u2", incidentId="i-2", incident_type="medical", status="Resolved",
                location=[52.44, 13.52], severity="low"),
        ]
    )  # fmt: skip


def api_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(_env_file=None, api_tokens=TOKENS, users=USERS, lake_uri=str(tmp_path / "lake"), **overrides)


# Events no validator may accept, one kind of fault each, as any client could write them.
BAD: list[tuple[str, bytes]] = [
    ("vehicle_data", b"{truncated"),
    ("vehicle_data", b'{"device_id": "car-x", "timestamp": "2026-01-01T00:00:00", "location": [95, 13], "speed": 5}'),
    ("gps_data", b'{"device_id": "car-x", "location": [52.4, 13.5], "speed": 5}'),
    ("gps_data", b'{"device_id": "car-x", "timestamp": "2026-01-01T00:00:00", "location": [52.4, 13.5], "speed": 900}'),
    ("traffic_data", b"[]"),
    ("weather_data", b'{"device_id": "w", "timestamp": "1999-06-01T00:00:00", "location": [52, 13], "temperature": 5}'),
    (
        "emergency_data",
        b'{"device_id": "u", "incidentId": "i", "incident_type": "fire", "status": "Maybe",'
        b' "timestamp": "2026-01-01T00:00:00", "location": [52, 13]}',
    ),
]


def simulated_lake(writer: LakeWriter, start: datetime, steps: int = 720, step_s: float = 10.0, **city: Any) -> None:
    """Fill a lake with ``steps`` simulation steps of a 40-vehicle city from ``start``, flushed."""
    sim = CitySimulation(SimulationConfig(**({"vehicles": 40, "start": start} | city)))
    validator, later = Validator(), start + timedelta(days=1)
    for _ in range(steps):
        by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for stream, _, event in sim.step(step_s):
            record = validator.validate(stream, event, now=later)
            assert isinstance(record, dict)
            by_stream[stream].append(record)
        for stream, records in by_stream.items():
            writer.add(stream, records)
    writer.flush()


ZONE = {
    "type": "Feature",
    "geometry": {"type": "Polygon", "coordinates": [[[13.51, 52.43], [13.54, 52.43], [13.54, 52.45], [13.51, 52.45],
                                                      [13.51, 52.43]]]},
    "properties": {"name": "Centre"},
}  # fmt: skip


def seed_alerts(speed: SpeedLayer) -> None:
    """A zone ``z-1``, a rule ``r-1`` using it and an unread alert ``a-1``, with fixed ids (the API
    tests name them), in the rule book and alert log beside ``speed``."""
    from pipeline.alerts import AlertLog, make_alert
    from pipeline.rulebook import RuleBook, validate_rule, validate_zone

    book = RuleBook(speed.client, speed.keys.prefix)
    rule = validate_rule({"name": "into the centre", "kind": "zone_enter", "zone": "z-1", "severity": "high"})
    speed.client.hset(book.zones_key, "z-1", orjson.dumps(validate_zone(ZONE)))
    speed.client.hset(book.rules_key, "r-1", orjson.dumps(rule))
    speed.client.incr(book.version_key)
    alert = make_alert("a-1", "zone_enter", "high", "car-1 entered Centre", NOW.isoformat(), "car-1", "r-1")
    AlertLog(speed.client).add([alert])
