"""``GET /gtfs-rt/vehicle-positions``: the city's buses, read back with Google's GTFS-RT bindings."""

from __future__ import annotations

import time
from pathlib import Path

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2

from app import create_app
from app.gtfs_feed import vehicle_positions
from app.store import Store
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, rec

URL = "/gtfs-rt/vehicle-positions"


@pytest.fixture
def speed(app: Flask) -> SpeedLayer:
    """The seeded city's speed layer (tests/city.py: bus-1 at 22 km/h, two cars), plus a bus with a heading."""
    layer: SpeedLayer = app.extensions["smartcity.store"].speed
    layer.write([rec("gps_data", 2, device_id="bus-2", location=[52.4421, 13.5250], speed=36.0, heading=271.5,
                     vehicle_type="bus")])  # fmt: skip
    return layer


def feed_of(data: bytes) -> gtfs_realtime_pb2.FeedMessage:
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.ParseFromString(data)
    return feed


def test_the_feed_is_the_citys_buses_field_by_field(client: FlaskClient, speed: SpeedLayer) -> None:
    before = int(time.time())
    resp = client.get(URL)
    after = int(time.time())
    assert resp.status_code == 200 and resp.mimetype == "application/x-protobuf"
    feed = feed_of(resp.data)
    assert feed.header.gtfs_realtime_version == "2.0"
    assert feed.header.incrementality == gtfs_realtime_pb2.FeedHeader.FULL_DATASET
    assert before <= feed.header.timestamp <= after
    by_id = {e.id: e for e in feed.entity}
    assert set(by_id) == {"bus-1", "bus-2"}  # the cars are not transit
    stored = {vid: speed.vehicle(vid) for vid in by_id}
    for vid, entity in by_id.items():
        vp, state = entity.vehicle, stored[vid]
        assert state is not None
        assert vp.vehicle.id == vid
        assert vp.timestamp == int(state["ts"]) // 1000  # epoch seconds of the bus's latest report
        assert vp.position.latitude == pytest.approx(float(state["lat"]), abs=1e-5)  # a float32 in GTFS-RT
        assert vp.position.longitude == pytest.approx(float(state["lon"]), abs=1e-5)
    assert by_id["bus-2"].vehicle.position.speed == pytest.approx(10.0)  # 36 km/h in m/s
    assert by_id["bus-2"].vehicle.position.bearing == pytest.approx(271.5, abs=0.5)  # the map rows keep whole degrees
    assert by_id["bus-1"].vehicle.position.speed == pytest.approx(22 / 3.6, rel=1e-6)
    assert not by_id["bus-1"].vehicle.position.HasField("bearing")  # none reported: none invented


def test_json_is_the_same_feed_for_people(client: FlaskClient, speed: SpeedLayer) -> None:
    binary = feed_of(client.get(URL).data)
    resp = client.get(URL + "?format=json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    body = resp.json
    assert body["header"]["gtfs_realtime_version"] == "2.0" and body["header"]["incrementality"] == "FULL_DATASET"
    bus = next(e for e in body["entity"] if e["id"] == "bus-2")
    assert bus["vehicle"]["vehicle"]["id"] == "bus-2" and bus["vehicle"]["position"]["speed"] == pytest.approx(10.0)
    parsed = json_format.ParseDict(body, gtfs_realtime_pb2.FeedMessage())  # the bindings read it back
    assert list(parsed.entity) == list(binary.entity)


def test_credentials_are_required(app: Flask, speed: SpeedLayer) -> None:
    anonymous = app.test_client().get(URL)
    assert anonymous.status_code == 401 and anonymous.json["error"]["status"] == 401  # no login page redirect
    ingest = app.test_client().get(URL, headers={"Authorization": "Bearer ingest-token"})
    assert ingest.status_code == 403


def test_a_bad_format_is_refused(client: FlaskClient) -> None:
    resp = client.get(URL + "?format=xml")
    assert resp.status_code == 400 and "format" in resp.json["error"]["message"]


def test_a_city_without_buses_is_an_empty_full_dataset(tmp_path: Path) -> None:
    app = create_app(api_settings(tmp_path), store=Store(SpeedLayer(fakeredis.FakeRedis(), "empty:")))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer viewer-token"
    feed = feed_of(client.get(URL).data)
    assert feed.header.incrementality == gtfs_realtime_pb2.FeedHeader.FULL_DATASET and len(feed.entity) == 0
    assert client.get(URL + "?format=json").json["entity"] == []


def test_an_id_that_is_not_utf8_still_makes_a_feed() -> None:
    row = {"id": "bus-\ud800", "ts": 1_800_000_000_000, "lat": 52.44, "lon": 13.52}
    feed = feed_of(vehicle_positions([row], 1_800_000_001).SerializeToString())
    assert feed.entity[0].vehicle.vehicle.id.startswith("bus-")
