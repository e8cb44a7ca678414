"""Entity ids with any content reach the API's handlers exactly, when the client percent-encodes them."""

from __future__ import annotations

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.store import Store
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, rec

ODD_IDS = [
    "a:b", "a*b?", "{tag}", "a\nb", "line\r\nbreak", "..", ".", "a/../b", "a/b", "/leading", "trailing/", "a//b",
    "ü-ß-東京-🚑", "a b\t", "a%2Fb", "#frag", "locations/x", "x/acknowledge", "x/route", "\x00nul", "v" * 128,
]  # fmt: skip
LONG_INCIDENT = "i" * 256
ADMIN = {"Authorization": "Bearer admin-token"}


def encoded(entity_id: str) -> str:
    """Every byte percent-encoded, dots too: no client or server may read ``..`` as a path step."""
    return "".join(f"%{byte:02X}" for byte in entity_id.encode())


@pytest.fixture(scope="module")
def empty_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """A city with nothing in it (its lake too)."""
    return create_app(api_settings(tmp_path_factory.mktemp("empty")), store=Store(SpeedLayer(fakeredis.FakeRedis())))


@pytest.fixture(scope="module")
def odd_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """A city whose vehicles and incidents have the ids above (each test acts on its own id)."""
    speed = SpeedLayer(fakeredis.FakeRedis(), "ids:")
    records = [rec("vehicle_data", 5, device_id=i, location=[52.44, 13.52], speed=10.0) for i in ODD_IDS]
    records += [
        rec("emergency_data", 30, device_id="u1", incidentId=i, incident_type="fire", status="Active",
            location=[52.44, 13.52])
        for i in [*ODD_IDS, LONG_INCIDENT]
    ]  # fmt: skip
    speed.write(records)
    return create_app(api_settings(tmp_path_factory.mktemp("odd")), store=Store(speed))


@pytest.mark.parametrize("entity_id", ODD_IDS, ids=repr)
def test_a_vehicle_of_any_id_is_found_by_its_encoded_id(odd_app: Flask, entity_id: str) -> None:
    resp = odd_app.test_client().get(f"/api/vehicles/{encoded(entity_id)}", headers=ADMIN)
    assert resp.status_code == 200, resp.json
    assert resp.json["id"] == entity_id


@pytest.mark.parametrize("entity_id", ODD_IDS, ids=repr)
def test_an_absent_id_is_a_json_404_naming_it(empty_app: Flask, entity_id: str) -> None:
    c = empty_app.test_client()
    for method, url in [
        ("GET", f"/api/vehicles/{encoded(entity_id)}"),
        ("POST", f"/api/emergency/incidents/{encoded(entity_id)}/acknowledge"),
        ("POST", f"/api/emergency/incidents/{encoded(entity_id)}/resolve"),
    ]:
        resp = c.open(url, method=method, headers=ADMIN)
        assert resp.status_code == 404 and resp.is_json, (url, resp.data[:200])
        assert repr(entity_id) in resp.json["error"]["message"], url


@pytest.mark.parametrize("entity_id", [*ODD_IDS, LONG_INCIDENT], ids=lambda i: repr(i[:20]))
def test_an_incident_of_any_id_is_acknowledged_and_resolved(odd_app: Flask, entity_id: str) -> None:
    c = odd_app.test_client()
    acked = c.post(f"/api/emergency/incidents/{encoded(entity_id)}/acknowledge", headers=ADMIN)
    assert acked.status_code == 200, acked.json
    assert acked.json["id"] == entity_id and acked.json["acknowledged_by"] == "token:admin"
    resolved = c.post(f"/api/emergency/incidents/{encoded(entity_id)}/resolve", headers=ADMIN)
    assert resolved.status_code == 202, resolved.json
    assert resolved.json["event"]["incidentId"] == entity_id


@pytest.mark.parametrize("entity_id", ODD_IDS, ids=repr)
def test_a_route_of_any_vehicle_id_names_that_id(empty_app: Flask, entity_id: str) -> None:
    resp = empty_app.test_client().get(f"/api/history/vehicles/{encoded(entity_id)}/route", headers=ADMIN)
    assert resp.status_code == 200, resp.json
    assert resp.json["vehicle_id"] == entity_id and resp.json["rows"] == []


def test_the_routes_beside_an_id_keep_their_own_handlers(client: FlaskClient) -> None:
    assert client.get("/api/vehicles/locations").json["count"] == 3  # not a vehicle named "locations"
    unknown_view = client.get("/api/history/vehicles")
    assert unknown_view.status_code == 404 and "unknown view 'vehicles'" in unknown_view.json["error"]["message"]
    for empty in ("/api/vehicles/", "/api/emergency/incidents/", "/api/history/vehicles//route"):
        resp = client.get(empty)
        assert resp.status_code == 404 and resp.is_json, empty  # an empty id names nothing
    # with an empty id, //acknowledge merges into the URL of an incident called "acknowledge",
    # which is read, never acted on: no action runs
    resp = client.post("/api/emergency/incidents//acknowledge")
    assert resp.status_code == 405 and resp.is_json and "POST" not in resp.headers["Allow"]
    # an incident's own URL never swallows an action's: a GET of one is a 405 naming POST
    resp = client.get("/api/emergency/incidents/i-1/notes")
    assert resp.status_code == 405 and "POST" in resp.headers["Allow"]


def test_an_id_that_names_a_speed_layer_index_is_just_an_id(odd_app: Flask) -> None:
    resp = odd_app.test_client().get("/api/vehicles/active", headers=ADMIN)
    assert resp.status_code == 404 and "'active'" in resp.json["error"]["message"]
