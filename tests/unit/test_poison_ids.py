"""The poison corpus: ids a hostile or careless client sends, through HTTP ingest, end to end.

Every id names one entity and nothing else: not the speed layer's indexes, not another
entity, not another kind. The server stays up, every read answers 200, and each poisoned
entity can be fetched, listed, acknowledged and resolved. tests/integration runs the same
tests on a real redis-server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pipeline.schemas import COMMON, SCHEMAS, VEHICLE_TYPES

# what the speed layer once named its own keys, ids shaped like its key suffixes, and odd text
RESERVED = ["active", "geo", "index", "resolved", "congestion", "summary", "changes", "id", "track", "deadletters"]
SHAPED = [f"active:{t}" for t in VEHICLE_TYPES[:2]] + ["car-1:track", "x:track", "i-1:track", "id:car-1", "track:x"]
ODD = ["a:b:c", "*", "{", "}", "{tag}", "line\nbreak", "..", "../..", "Straße-ü-北京-🚑", "sp ace", "%2F", "?q=1#f"]
IDS = RESERVED + SHAPED + ODD

# stream -> the field holding the entity's id
ID_FIELD = {"vehicle_data": "device_id", "traffic_data": "camera_id", "weather_data": "device_id",
            "emergency_data": "incidentId"}  # fmt: skip


def _max_length(stream: str, name: str) -> int:
    return next(f.max_length for f in COMMON + SCHEMAS[stream] if f.name == name)


def ids_for(stream: str) -> list[str]:
    """The corpus plus the longest id the schema allows for this stream's id field."""
    return [*IDS, "L" * _max_length(stream, ID_FIELD[stream])]


def event(stream: str, entity_id: str, ago_s: float = 1.0, **extra: Any) -> dict[str, Any]:
    ts = (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat()
    base: dict[str, Any] = {"timestamp": ts, "location": [52.44, 13.52]}
    if stream == "vehicle_data":
        return base | {"device_id": entity_id, "speed": 12.5, "vehicle_type": "car"} | extra
    if stream == "traffic_data":
        return base | {"device_id": "cam-dev", "camera_id": entity_id, "speed": 8.0, "congestion_level": "heavy"}
    if stream == "weather_data":
        return base | {"device_id": entity_id, "temperature": 3.5}
    return base | {"device_id": "unit-7", "incidentId": entity_id, "incident_type": "fire", "status": "Active",
                   "severity": "high"}  # fmt: skip


def post(app: Flask, stream: str, events: list[dict[str, Any]]) -> None:
    answer = app.test_client().post(f"/api/ingest/{stream}", json=events,
                                    headers={"Authorization": "Bearer ingest-token"})  # fmt: skip
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["accepted"] == len(events)


@pytest.fixture
def poisoned(app: Flask) -> Flask:
    """The seeded test city (tests/city.py: car-1, cam-1, ws-1, i-1…) after the whole corpus."""
    for stream in ID_FIELD:
        post(app, stream, [event(stream, i) for i in ids_for(stream)])
    return app


READS = ["/api/health", "/api/system", "/api/analytics/summary", "/api/traffic/conditions", "/api/weather/current",
         "/api/emergency/incidents?status=all&limit=5000", "/api/vehicles/locations?limit=20000",
         "/api/vehicles/locations?type=car", "/metrics"]  # fmt: skip


@pytest.mark.parametrize("path", READS)
def test_every_read_answers_after_the_corpus(poisoned: Flask, client: FlaskClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.get_data(as_text=True)[:500])


def test_each_poisoned_entity_is_listed_once_and_its_neighbours_are_untouched(
    poisoned: Flask, client: FlaskClient
) -> None:
    vehicles = {v["id"]: v for v in client.get("/api/vehicles/locations?limit=20000").get_json()["vehicles"]}
    traffic = {s["id"] for s in client.get("/api/traffic/conditions").get_json()["segments"]}
    weather = {s["id"] for s in client.get("/api/weather/current").get_json()["stations"]}
    incidents = {i["id"] for i in client.get("/api/emergency/incidents?limit=5000").get_json()["incidents"]}
    assert set(ids_for("vehicle_data")) <= set(vehicles)
    assert set(ids_for("traffic_data")) <= traffic
    assert set(ids_for("weather_data")) <= weather
    assert set(ids_for("emergency_data")) <= incidents
    # the seeded city is still there, unchanged by ids shaped like its keys ("car-1:track", "id:car-1")
    assert {"car-1", "bus-1"} <= set(vehicles) and vehicles["car-1"]["speed"] == 31.0
    assert {"cam-1", "cam-2"} <= traffic and "ws-1" in weather and "i-1" in incidents
    summary = client.get("/api/analytics/summary").get_json()
    assert summary["active_vehicles"] == len(vehicles)
    assert summary["traffic_sensors"] == len(traffic)
    assert summary["active_incidents"] == len(incidents)


def test_every_poisoned_vehicle_is_fetched_by_its_url_encoded_id(poisoned: Flask, client: FlaskClient) -> None:
    for entity_id in ids_for("vehicle_data"):
        answer = client.get(f"/api/vehicles/{quote(entity_id, safe='')}")
        assert answer.status_code == 200, (entity_id, answer.get_data(as_text=True)[:300])
        state = answer.get_json()
        assert state["id"] == entity_id and state["speed"] == 12.5
        assert len(state["track"]) == 1  # its own track, not another vehicle's
    state = client.get("/api/vehicles/car-1").get_json()
    assert state["speed"] == 31.0 and len(state["track"]) == 1  # "car-1:track" did not touch it


def test_every_poisoned_incident_is_acknowledged_and_resolved(poisoned: Flask) -> None:
    operator = {"Authorization": "Bearer operator-token"}
    c = poisoned.test_client()
    for entity_id in ids_for("emergency_data"):
        path = f"/api/emergency/incidents/{quote(entity_id, safe='')}"
        ack = c.post(f"{path}/acknowledge", headers=operator)
        assert ack.status_code == 200, (entity_id, ack.get_data(as_text=True)[:300])
        assert ack.get_json()["id"] == entity_id and ack.get_json()["acknowledged_by"]
        resolved = c.post(f"{path}/resolve", headers=operator)
        assert resolved.status_code == 202, (entity_id, resolved.get_data(as_text=True)[:300])
    listed = c.get("/api/emergency/incidents?status=resolved&limit=5000", headers=operator).get_json()["incidents"]
    assert set(ids_for("emergency_data")) <= {i["id"] for i in listed}
    active = c.get("/api/emergency/incidents?limit=5000", headers=operator).get_json()["incidents"]
    assert [i["id"] for i in active] == ["i-1"]  # resolving "resolved" or "active" touched no other incident
