"""What the API answers to requests it cannot serve: each a JSON error a client can act on, never a 500."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import exceptions as redis_errors

from app import create_app
from app.api.routing import MAX_URL_BYTES
from app.store import Store
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, seed

ADMIN = {"Authorization": "Bearer admin-token"}
# every GET of the API that needs the speed layer to answer (the health check and the System tab
# report it down themselves)
SPEED_LAYER_GETS = [
    "/api/vehicles/locations", "/api/vehicles/car-1", "/api/emergency/incidents",
    "/api/traffic/conditions", "/api/weather/current", "/api/analytics/summary", "/api/audit",
    "/api/live",  # the poll of clients whose socket is down: a console opened while Redis is away says so
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("GET", "/api/emergency/incidents/i-1/acknowledge", {"POST", "OPTIONS"}),
        ("PUT", "/api/emergency/incidents/i-1/resolve", {"POST", "OPTIONS"}),
        ("GET", "/api/ingest/gps_data", {"POST", "OPTIONS"}),
        ("POST", "/api/analytics/summary", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/api/vehicles/car-1", {"GET", "HEAD", "OPTIONS"}),
        ("PATCH", "/api/vehicles/locations", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_a_method_a_route_does_not_serve_is_a_json_405_with_allow(
    client: FlaskClient, method: str, url: str, allow: set[str]
) -> None:
    resp = client.open(url, method=method, headers=ADMIN)
    assert resp.status_code == 405 and resp.is_json and resp.json["error"]["status"] == 405
    assert set(resp.headers["Allow"].split(", ")) == allow


def test_options_names_the_methods_the_api_serves_at_a_path(client: FlaskClient) -> None:
    for url, allow in [
        ("/api/emergency/incidents/i-1/acknowledge", {"POST", "OPTIONS"}),
        ("/api/ingest/gps_data", {"POST", "OPTIONS"}),
        ("/api/vehicles/car-1", {"GET", "HEAD", "OPTIONS"}),
        ("/api/health", {"GET", "HEAD", "OPTIONS"}),
    ]:
        resp = client.options(url)
        assert resp.status_code in (200, 204) and set(resp.headers["Allow"].split(", ")) == allow, url
    unknown = client.options("/api/nothing-here")
    assert unknown.status_code == 404 and unknown.is_json


def test_unknown_api_paths_are_a_json_404_whatever_the_method(client: FlaskClient) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "HEAD"):
        resp = client.open("/api/nothing-here", method=method)
        assert resp.status_code == 404 and resp.is_json, method


def test_an_overlong_url_is_a_json_414(client: FlaskClient) -> None:
    for url in (f"/api/vehicles/locations?type={'x' * 70_000}", f"/api/vehicles/{'v' * MAX_URL_BYTES}"):
        resp = client.get(url)
        assert resp.status_code == 414 and resp.is_json and resp.json["error"]["status"] == 414
    assert client.get(f"/api/vehicles/locations?type={'x' * 1000}").status_code == 200


@pytest.fixture
def down(tmp_path: Path) -> Flask:
    """The app over a speed layer that stopped answering (fakeredis' server, disconnected)."""
    server = fakeredis.FakeServer()
    speed = SpeedLayer(fakeredis.FakeRedis(server=server), "down:")
    seed(speed)
    app = create_app(api_settings(tmp_path), store=Store(speed))
    server.connected = False
    return app


@pytest.mark.parametrize("url", SPEED_LAYER_GETS)
def test_an_unreachable_speed_layer_is_a_json_503_with_retry_after(down: Flask, url: str) -> None:
    resp = down.test_client().get(url, headers=ADMIN)
    assert resp.status_code == 503 and resp.is_json, resp.data[:300]
    assert resp.json["error"]["status"] == 503
    assert resp.json["error"]["message"].startswith("speed layer unavailable: ")
    assert int(resp.headers["Retry-After"]) > 0


def test_health_and_system_report_the_speed_layer_down_themselves(down: Flask) -> None:
    c = down.test_client()
    health = c.get("/api/health")
    assert health.status_code == 503 and health.json["components"]["speed_layer"]["ok"] is False
    system = c.get("/api/system", headers=ADMIN)
    assert system.status_code == 200 and system.json["store_ok"] is False


def test_acting_on_an_incident_without_the_speed_layer_is_a_json_503(down: Flask) -> None:
    for action in ("acknowledge", "resolve"):
        resp = down.test_client().post(f"/api/emergency/incidents/i-1/{action}", headers=ADMIN)
        assert resp.status_code == 503 and resp.is_json and "Retry-After" in resp.headers, action


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (redis_errors.TimeoutError("Timeout reading from socket"), 503),
        (redis_errors.MaxConnectionsError("Too many connections"), 503),
        (redis_errors.BusyLoadingError("Redis is loading the dataset in memory"), 503),
        (redis_errors.ReadOnlyError("You can't write against a read only replica."), 503),
        (redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_redis_away_is_a_503_and_a_redis_bug_a_500(
    app: Flask, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int
) -> None:
    def fail() -> None:
        raise error

    monkeypatch.setattr(app.extensions["smartcity.store"], "traffic", fail)
    resp = app.test_client().get("/api/traffic/conditions", headers=ADMIN)
    assert resp.status_code == status and resp.is_json
    assert ("Retry-After" in resp.headers) == (status == 503)
    assert "socket" not in resp.json["error"]["message"]  # the error's text is for the log
