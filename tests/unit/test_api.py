"""REST API over an embedded speed layer, with Flask's test client.

tests/integration/test_api_redis.py runs these same tests on a real redis-server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.city import api_settings, rec


def test_the_factory_builds_an_embedded_app_from_default_settings(tmp_path: Path) -> None:
    app = create_app(api_settings(tmp_path))
    resp = app.test_client().get("/api/analytics/summary", headers={"Authorization": "Bearer admin-token"})
    assert resp.json["active_vehicles"] == 0


def test_vehicle_locations_are_typed_and_newest_first(client: FlaskClient) -> None:
    body = client.get("/api/vehicles/locations").json
    assert body["count"] == 3
    assert [v["id"] for v in body["vehicles"]] == ["car-far", "bus-1", "car-1"]
    car = body["vehicles"][2]
    assert car["lat"] == 52.44 and car["speed"] == 31.0 and car["vehicle_type"] == "car"
    assert isinstance(car["ts"], int)


def test_vehicle_locations_filter_by_box_type_and_limit(client: FlaskClient) -> None:
    box = client.get("/api/vehicles/locations?bbox=52.43,13.51,52.45,13.54").json
    assert sorted(v["id"] for v in box["vehicles"]) == ["bus-1", "car-1"]
    cars = client.get("/api/vehicles/locations?type=car&bbox=52.43,13.51,52.45,13.54").json
    assert [v["id"] for v in cars["vehicles"]] == ["car-1"]
    assert client.get("/api/vehicles/locations?limit=1").json["count"] == 1
    assert client.get("/api/vehicles/locations?type=spaceship").json["count"] == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [("bbox=1,2,3", "bbox must be"), ("bbox=53,13,52,14", "south < north"), ("bbox=a,b,c,d", "bbox"),
     ("limit=0", "limit must be between"), ("limit=many", "limit must be an integer")],
)  # fmt: skip
def test_bad_parameters_are_400_with_a_json_reason(client: FlaskClient, query: str, message: str) -> None:
    resp = client.get(f"/api/vehicles/locations?{query}")
    assert resp.status_code == 400
    assert message in resp.json["error"]["message"]


def test_one_vehicle_with_its_track(client: FlaskClient) -> None:
    body = client.get("/api/vehicles/car-1").json
    assert body["id"] == "car-1" and body["track"][0][:2] == [52.44, 13.52]
    missing = client.get("/api/vehicles/nope")
    assert missing.status_code == 404 and "nope" in missing.json["error"]["message"]


def test_incidents_by_status(client: FlaskClient) -> None:
    active = client.get("/api/emergency/incidents").json
    assert [i["id"] for i in active["incidents"]] == ["i-1"]
    assert active["incidents"][0]["severity"] == "high"
    resolved = client.get("/api/emergency/incidents?status=resolved").json
    assert [i["id"] for i in resolved["incidents"]] == ["i-2"]
    assert client.get("/api/emergency/incidents?status=all").json["count"] == 2
    assert client.get("/api/emergency/incidents?status=maybe").status_code == 400


def test_traffic_worst_first_weather_and_summary(client: FlaskClient) -> None:
    assert [s["id"] for s in client.get("/api/traffic/conditions").json["segments"]] == ["cam-2", "cam-1"]
    (station,) = client.get("/api/weather/current").json["stations"]
    assert station["temperature"] == 7.5 and station["weather_condition"] == "Rain"
    summary = client.get("/api/analytics/summary").json
    assert summary["active_vehicles"] == 3 and summary["active_incidents"] == 1
    assert summary["congested_segments"] == 1 and summary["vehicles_by_type"]["bus"] == 1


def test_health_reports_components_and_data_age(client: FlaskClient) -> None:
    body = client.get("/api/health").json
    assert body["status"] == "ok" and body["components"]["speed_layer"]["ok"] is True
    assert 0 <= body["data_age_seconds"]["vehicles"] < 60


def test_unknown_api_routes_and_methods_are_json(client: FlaskClient) -> None:
    resp = client.get("/api/nothing-here")
    assert resp.status_code == 404 and resp.is_json and resp.json["error"]["status"] == 404
    resp = client.post("/api/analytics/summary")
    assert resp.status_code == 405 and resp.is_json


UTF8_E = "é".encode().decode("latin-1")  # "é" as a WSGI server hands over its UTF-8 bytes (latin-1 text)
BAD_AUTHORIZATION = [
    "", "Bearer", "Bearer ", "Bearer é", f"Bearer {UTF8_E}", "Bearer \x00\x7f\x1b", "Bearer " + "x" * 100_000,
    "Basic dmlld2VyOnZpZXdlci10b2tlbg==", "Basic viewer-token", "Token viewer-token", "bearer nope",
    "BEARER nope", "viewer-token", "Bearer viewer-token-but-longer", "Bearer viewer-toke", "\ud800",
    "Bearer \ud800\udfff",
]  # fmt: skip
BAD_QUERY_TOKENS = ["", "%C3%A9", "%E9", "%FF%FE%00", "%F0%9F%98%80", "x" * 10_000, "%ED%A0%80", "a%0Ab", "%00"]


@pytest.mark.parametrize("header", BAD_AUTHORIZATION, ids=lambda h: repr(h[:30]))
def test_a_malformed_authorization_header_is_a_json_401(app: Flask, header: str) -> None:
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = header  # as the server decoded it: any text, not only ASCII
    for url in ("/api/system", "/api/vehicles/car-1", "/api/audit"):
        resp = c.get(url)
        assert resp.status_code == 401 and resp.is_json and resp.json["error"]["status"] == 401, url
    posted = c.post("/api/ingest/gps_data", json={})
    assert posted.status_code == 401 and posted.is_json


@pytest.mark.parametrize("token", BAD_QUERY_TOKENS, ids=lambda t: t[:20])
def test_a_malformed_query_token_is_a_json_401_and_the_login_page_still_answers(app: Flask, token: str) -> None:
    c = app.test_client()
    resp = c.get(f"/api/system?token={token}")
    assert resp.status_code == 401 and resp.is_json and resp.json["error"]["status"] == 401
    page = c.get(f"/login?token={token}")
    assert page.status_code == 200 and b"Sign in" in page.data  # no session: the form again
    assert c.get("/api/system").status_code == 401


def test_the_bearer_scheme_is_case_insensitive_and_the_token_is_not(app: Flask) -> None:
    c = app.test_client()
    for header in ("Bearer viewer-token", "bearer viewer-token", "BEARER  viewer-token "):
        assert c.get("/api/system", headers={"Authorization": header}).status_code == 200, header
    assert c.get("/api/system", headers={"Authorization": "Bearer VIEWER-TOKEN"}).status_code == 401


def test_a_100_kb_query_token_is_refused_for_the_urls_size_before_its_credentials(app: Flask) -> None:
    c = app.test_client()
    resp = c.get(f"/api/system?token={'x' * 100_000}")
    assert resp.status_code == 414 and resp.is_json and resp.json["error"]["status"] == 414
    assert c.get(f"/login?token={'x' * 100_000}").status_code == 414


def test_the_console_login_guard_lets_routing_errors_through(app: Flask) -> None:
    c = app.test_client()  # signed out
    assert c.open("/logout", method="TRACE").status_code == 405  # not a redirect to the login page
    assert c.post("/logout").status_code == 405
    assert c.get("/somewhere").status_code == 302  # a page, maybe: signing in comes first


def test_a_login_post_without_the_forms_fields_is_a_400_page(app: Flask) -> None:
    c = app.test_client()
    for form in ({}, {"user": "olga"}, {"password": "pw-o"}):
        resp = c.post("/login", data=form)
        assert resp.status_code == 400 and resp.mimetype == "text/html" and b"Send a user" in resp.data
    assert c.post("/login", data={"user": "", "password": ""}).status_code == 200  # the form, sent empty


def test_a_public_simulators_events_show_with_their_extra_fields(app: Flask, client: FlaskClient) -> None:
    """camelCase names, a naive local time (the default zone is the city's), unknown fields, and a GPS
    fix without a location: posted as the simulator sends them, read back from the API."""
    now = datetime.now(UTC).replace(microsecond=0)  # not the module's NOW: a long session ages it
    local = now.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None).isoformat()
    ingest = {"Authorization": "Bearer ingest-token"}
    vehicle = {"deviceId": "clone-1", "timestamp": local, "location": [52.44, 13.52], "speed": 40.0,
               "fuelType": "Hybrid", "vehicleType": "car", "firmware": "2.1", "sensors": {"obd": True}}  # fmt: skip
    assert app.test_client().post("/api/ingest/vehicle_data", json=vehicle, headers=ingest).status_code == 202
    fix = {"deviceId": "clone-2", "timestamp": int(now.timestamp() * 1000), "speed": 12.0, "satellites": 7}
    assert app.test_client().post("/api/ingest/gps_data", json=fix, headers=ingest).status_code == 202

    body = client.get("/api/vehicles/clone-1").json
    assert body["ts"] == int(now.timestamp() * 1000)  # the naive time was read in Europe/Berlin
    assert (body["fuel_type"], body["vehicle_type"], body["lat"]) == ("Hybrid", "car", 52.44)
    assert body["extra"] == {"firmware": "2.1", "sensors": {"obd": True}}
    assert body["clock_skew_s"] == 0

    blind = client.get("/api/vehicles/clone-2").json  # stored, without a position
    assert (blind["speed"], blind["extra"], blind["track"]) == (12.0, {"satellites": 7}, [])
    assert "lat" not in blind
    located = [v["id"] for v in client.get("/api/vehicles/locations").json["vehicles"]]
    assert "clone-1" in located and "clone-2" not in located  # the locations list has positions only


def test_find_matches_ids_plates_and_roads_best_first(app: Flask, client: FlaskClient) -> None:
    """A plate as a person types it (spaces, case), an id prefix, a road, as another client sends them."""
    app.extensions["smartcity.store"].writer().write(
        [
            rec("vehicle_data", 2, device_id="taxi-7", location=[52.441, 13.521], speed=12.0, vehicle_type="taxi",
                plate="B-KX 4821", road_name="Bahnhofstraße"),
            rec("vehicle_data", 2, device_id="taxi-77", location=[52.442, 13.522], speed=0.0, vehicle_type="taxi",
                licensePlate="B-TX 77", roadName="Adlergestell"),
        ]
    )  # fmt: skip
    by_plate = client.get("/api/find", query_string={"q": "bkx4821"}).json
    assert [(v["id"], v["match"], v["plate"]) for v in by_plate["vehicles"]] == [("taxi-7", "plate", "B-KX 4821")]
    by_id = client.get("/api/find", query_string={"q": "TAXI-7"}).json["vehicles"]
    assert [v["id"] for v in by_id] == ["taxi-7", "taxi-77"]  # the exact id before the one it starts
    assert by_id[0]["lat"] == 52.441 and by_id[1]["plate"] == "B-TX 77"
    by_road = client.get("/api/find", query_string={"q": "bahnhof"}).json["vehicles"]
    assert [(v["id"], v["match"]) for v in by_road] == [("taxi-7", "road")]
    assert client.get("/api/find", query_string={"q": "nothing-like-it"}).json == {"count": 0, "vehicles": []}
    for bad in ("", "   ", "x" * 65):
        resp = client.get("/api/find", query_string={"q": bad})
        assert resp.status_code == 400 and "q must be" in resp.json["error"]["message"]
