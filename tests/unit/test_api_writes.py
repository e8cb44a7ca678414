"""Auth matrix, incident actions, ingest and metrics (the OpenAPI document: test_openapi.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest
import simple_websocket
from flask import Flask

from app import create_app
from app.auth import READ, Credentials
from app.console import chart, ids
from app.gunicorn_conf import production_problems
from app.ingest import KafkaIngest
from app.server import Server
from app.store import Store
from pipeline.lake import DEADLETTER, open_lake, read_table
from pipeline.runtime import DirectIngest
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from tests.city import NOW, api_settings, seed
from tests.services import free_port

ROLE_TOKENS = {None: None, "viewer": "viewer-token", "operator": "operator-token", "admin": "admin-token",
               "ingest": "ingest-token"}  # fmt: skip
GOOD_GPS = {"device_id": "gps-9", "timestamp": NOW.isoformat(), "location": [52.44, 13.52], "speed": 12.0}

# (method, path, body, roles allowed)
MATRIX: list[tuple[str, str, Any, set[str]]] = [
    ("GET", "/api/vehicles/locations", None, {"viewer", "operator", "admin"}),
    ("GET", "/api/vehicles/car-1", None, {"viewer", "operator", "admin"}),
    ("GET", "/api/emergency/incidents", None, {"viewer", "operator", "admin"}),
    ("GET", "/api/traffic/conditions", None, {"viewer", "operator", "admin"}),
    ("GET", "/api/weather/current", None, {"viewer", "operator", "admin"}),
    ("GET", "/api/analytics/summary", None, {"viewer", "operator", "admin"}),
    ("GET", "/api/history/traffic", None, {"viewer", "operator", "admin"}),
    ("GET", "/api/history/vehicles/car-1/route", None, {"viewer", "operator", "admin"}),
    ("POST", "/api/emergency/incidents/i-1/acknowledge", None, {"operator", "admin"}),
    ("POST", "/api/emergency/incidents/i-1/resolve", None, {"operator", "admin"}),
    ("GET", "/api/audit", None, {"admin"}),
    ("POST", "/api/ingest/gps_data", GOOD_GPS, {"ingest", "admin"}),
]


def call(app: Flask, method: str, path: str, body: Any = None, role: str | None = None) -> Any:
    token = ROLE_TOKENS[role]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
@pytest.mark.parametrize("role", list(ROLE_TOKENS))
def test_auth_matrix(app: Flask, method: str, path: str, body: Any, allowed: set[str], role: str | None) -> None:
    resp = call(app, method, path, body, role)
    if role is None:
        assert resp.status_code == 401 and resp.is_json
    elif role in allowed:
        assert resp.status_code < 400, resp.json
    else:
        assert resp.status_code == 403 and "may not" in resp.json["error"]["message"]


@pytest.mark.parametrize("role", list(ROLE_TOKENS))
def test_auth_matrix_of_the_websocket(app: Flask, role: str | None) -> None:
    """/ws/realtime: console roles get a snapshot; nobody and the ingest role get a 1008 close."""
    server = Server(app, "127.0.0.1", 0).start()
    try:
        token = ROLE_TOKENS[role]
        url = server.url.replace("http://", "ws://") + "/ws/realtime" + (f"?token={token}" if token else "")
        ws = simple_websocket.Client.connect(url)
        try:
            if role in READ:
                assert json.loads(ws.receive(timeout=5))["type"] == "snapshot"
            else:
                with pytest.raises(simple_websocket.ConnectionClosed) as closed:
                    ws.receive(timeout=5)
                assert closed.value.reason == 1008
        finally:
            if ws.connected:
                ws.close()
    finally:
        server.stop()


def test_health_metrics_and_docs_need_no_token(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/health").status_code == 200
    assert client.get("/openapi.json").json["openapi"].startswith("3.")
    assert b"/api/vehicles/locations" in client.get("/docs").data
    metrics = client.get("/metrics").data.decode()
    assert "smartcity_active_vehicles 3" in metrics and "smartcity_active_incidents 1" in metrics


def test_a_resolution_reaches_the_speed_layer_the_lake_and_the_audit_log(app: Flask, tmp_path: Path) -> None:
    ack = call(app, "POST", "/api/emergency/incidents/i-1/acknowledge", role="operator")
    assert ack.status_code == 200 and ack.json["acknowledged_by"] == "token:operator"
    resolved = call(app, "POST", "/api/emergency/incidents/i-1/resolve", role="operator")
    assert resolved.status_code == 202
    active = call(app, "GET", "/api/emergency/incidents", role="viewer").json
    assert active["count"] == 0
    (inc,) = call(app, "GET", "/api/emergency/incidents?status=resolved&limit=1", role="viewer").json["incidents"]
    assert inc["id"] == "i-1" and inc["acknowledged_by"] == "token:operator"
    fs, root = open_lake(str(tmp_path / "lake"))
    (row,) = read_table(fs, root, "emergency_data").to_pylist()
    assert row["incidentId"] == "i-1" and row["status"] == "Resolved"
    again = call(app, "POST", "/api/emergency/incidents/i-1/resolve", role="operator")
    assert again.status_code == 409
    audit = call(app, "GET", "/api/audit", role="admin").json["entries"]
    assert [(e["action"], e["incident"], e["user"]) for e in audit] == [
        ("resolve", "i-1", "token:operator"), ("acknowledge", "i-1", "token:operator")]  # fmt: skip
    assert call(app, "POST", "/api/emergency/incidents/nope/resolve", role="operator").status_code == 404


def test_ingest_accepts_valid_events_and_names_each_problem(app: Flask, tmp_path: Path) -> None:
    assert call(app, "POST", "/api/ingest/gps_data", GOOD_GPS, "ingest").json == {"accepted": 1}
    bad = [GOOD_GPS, {**GOOD_GPS, "speed": -5}, {"device_id": "x"}]
    resp = call(app, "POST", "/api/ingest/gps_data", bad, "ingest")
    assert resp.status_code == 422
    assert resp.json["accepted"] == 1
    assert [p["index"] for p in resp.json["rejected"]] == [1, 2]
    assert "speed" in resp.json["rejected"][0]["reason"]
    fs, root = open_lake(str(tmp_path / "lake"))
    assert read_table(fs, root, "gps_data").num_rows == 2
    assert read_table(fs, root, DEADLETTER).num_rows == 2  # recorded as dead letters, with reasons
    assert call(app, "GET", "/api/vehicles/gps-9", role="viewer").json["speed"] == 12.0
    assert call(app, "POST", "/api/ingest/nope", GOOD_GPS, "ingest").status_code == 404
    raw = app.test_client().post(
        "/api/ingest/gps_data", data=b"{oops", headers={"Authorization": "Bearer ingest-token"}
    )
    assert raw.status_code == 400 and raw.is_json  # and counted: tests/unit/test_ingest_counting.py
    assert read_table(fs, root, DEADLETTER).num_rows == 3


def test_console_login_with_a_password_or_the_one_click_url(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert client.post("/login", data={"user": "olga", "password": "wrong"}).status_code == 200
    ok = client.post("/login", data={"user": "olga", "password": "pw-o", "next": "//evil.example"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    with client.session_transaction() as sess:
        assert sess["role"] == "operator"
    other = app.test_client()
    assert other.get("/login?token=admin-token").status_code == 302
    with other.session_transaction() as sess:
        assert sess["role"] == "admin"
    assert app.test_client().get("/login?token=ingest-token").status_code == 200  # not a console role


def test_nothing_configured_generates_credentials() -> None:
    creds = Credentials.from_settings(Settings(_env_file=None))
    assert set(creds.tokens.values()) == {"viewer", "operator", "admin", "ingest"}
    assert creds.login("admin", creds.generated["admin_password"]) == "admin"
    url = creds.login_url("http://127.0.0.1:8050")
    assert url and url.startswith("http://127.0.0.1:8050/login?token=")
    assert creds.token_role(orjson.loads(orjson.dumps(creds.generated["viewer_token"]))) == "viewer"


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "/\\evil.example", "/\\\\evil.example", "\\\\evil.example", "http://evil.example/",
     "https:evil.example", "javascript:alert(1)", "/\t/evil.example", "/\n/evil.example", " //evil.example"],
)  # fmt: skip
def test_login_never_redirects_to_another_site(app: Flask, target: str) -> None:
    client = app.test_client()
    by_password = client.post("/login", data={"user": "olga", "password": "pw-o", "next": target})
    assert by_password.status_code == 302 and by_password.headers["Location"] == "/"
    by_link = app.test_client().get("/login", query_string={"token": "viewer-token", "next": target})
    assert by_link.status_code == 302 and by_link.headers["Location"] == "/"


def test_login_returns_to_the_page_asked_for(app: Flask) -> None:
    resp = app.test_client().get("/login", query_string={"token": "viewer-token", "next": "/?tab=map"})
    assert resp.headers["Location"] == "/?tab=map"


def test_the_login_page_of_someone_signed_in_goes_back_to_the_console(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/login").status_code == 200  # the form, for someone not signed in
    client.post("/login", data={"user": "olga", "password": "pw-o"})
    again = client.get("/login", query_string={"next": "/#map"})
    assert again.status_code == 302 and again.headers["Location"] == "/#map"
    assert client.get("/logout").status_code == 302 and client.get("/login").status_code == 200


def operator_session(app: Flask) -> Any:
    client = app.test_client()
    assert client.post("/login", data={"user": "olga", "password": "pw-o"}).status_code == 302
    return client


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, False),  # neither Origin nor Referer
        ({"Origin": "http://localhost:9999"}, False),  # another port of the same host: same-site
        ({"Origin": "http://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Origin": "null", "Referer": "http://localhost/"}, False),  # an Origin given is the one checked
        ({"Referer": "http://localhost:9999/"}, False),
        ({"Origin": "http://localhost"}, True),  # the Flask test client's host
        ({"Origin": "http://LOCALHOST:80"}, True),
        ({"Referer": "http://localhost/?tab=emergency"}, True),
    ],
)
def test_writes_by_the_console_session_must_come_from_its_own_pages(
    app: Flask, headers: dict[str, str], allowed: bool
) -> None:
    client = operator_session(app)
    ack = client.post("/api/emergency/incidents/i-1/acknowledge", headers=headers)
    dash = client.post("/_dash-update-component", json={}, headers=headers)
    if allowed:
        assert ack.status_code == 200 and ack.json["acknowledged_by"] == "olga"
        assert dash.status_code != 403
    else:
        for resp in (ack, dash):
            assert resp.status_code == 403 and "cross-site" in resp.json["error"]["message"]
        assert "acknowledged_by" not in call(app, "GET", "/api/emergency/incidents", role="viewer").json["incidents"][0]


def test_token_clients_need_no_origin(app: Flask) -> None:
    resp = call(app, "POST", "/api/emergency/incidents/i-1/acknowledge", role="operator")
    assert resp.status_code == 200
    by_query = app.test_client().post("/api/emergency/incidents/i-1/acknowledge?token=admin-token")
    assert by_query.status_code == 200
    # a valid token decides even beside another site's Origin and a session cookie
    client = operator_session(app)
    resp = client.post("/api/ingest/gps_data", json=GOOD_GPS,
                       headers={"Authorization": "Bearer ingest-token", "Origin": "http://evil.example"})  # fmt: skip
    assert resp.status_code == 202


@pytest.mark.parametrize("limit", ["abc", "0", "-1", "1e3", "100001"])
def test_a_bad_audit_limit_is_a_400_naming_it(app: Flask, limit: str) -> None:
    resp = call(app, "GET", f"/api/audit?limit={limit}", role="admin")
    assert resp.status_code == 400 and "limit" in resp.json["error"]["message"]


def test_the_audit_limit_limits(app: Flask) -> None:
    for _ in range(3):
        call(app, "POST", "/api/emergency/incidents/i-1/acknowledge", role="operator")
    assert call(app, "GET", "/api/audit?limit=2", role="admin").json["count"] == 2


def audit_in_console(client: Any) -> Any:
    """What the Emergency tab's audit area shows this console user (Dash's own request)."""
    body = {"output": f"{ids.EMERGENCY_AUDIT}.children", "outputs": {"id": ids.EMERGENCY_AUDIT, "property": "children"},
            "inputs": [{"id": ids.EMERGENCY_FEEDBACK, "property": "children", "value": None},
                       {"id": chart.UTC_SWITCH, "property": "value", "value": False}],
            "changedPropIds": [f"{ids.EMERGENCY_FEEDBACK}.children"], "state": []}  # fmt: skip
    resp = client.post("/_dash-update-component", json=body, headers={"Origin": "http://localhost"})
    assert resp.status_code in (200, 204), resp.get_data(as_text=True)
    return resp.json["response"][ids.EMERGENCY_AUDIT]["children"] if resp.status_code == 200 else None


@pytest.mark.parametrize(("user", "password", "sees"), [("vic", "pw-v", False), ("olga", "pw-o", False),
                                                         ("ada", "pw-a", True)])  # fmt: skip
def test_only_admins_see_the_audit_log_in_the_console(app: Flask, user: str, password: str, sees: bool) -> None:
    call(app, "POST", "/api/emergency/incidents/i-1/acknowledge", role="operator")
    client = app.test_client()
    client.post("/login", data={"user": user, "password": password})
    shown = json.dumps(audit_in_console(client))
    assert ("Audit log" in shown and "token:operator" in shown) is sees
    if not sees:
        assert "token:operator" not in shown and "acknowledge" not in shown


def test_with_kafka_configured_ingest_goes_to_kafka_and_says_when_it_cannot(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    speed = SpeedLayer(fakeredis.FakeRedis(), "k:")
    seed(speed)
    app = create_app(api_settings(tmp_path, kafka_bootstrap_servers=f"127.0.0.1:{port}"), store=Store(speed))
    ingest = app.extensions["smartcity.ingest"]
    assert isinstance(ingest, KafkaIngest)
    ingest.timeout_s = 1.0
    ingest.config["message.timeout.ms"] = 1000  # the producer is created on first use, with this
    resp = call(app, "POST", "/api/ingest/gps_data", GOOD_GPS, "ingest")
    assert resp.status_code == 503 and f"Kafka at 127.0.0.1:{port}" in resp.json["error"]["message"]
    resolve = call(app, "POST", "/api/emergency/incidents/i-1/resolve", role="operator")
    assert resolve.status_code == 503 and "Kafka" in resolve.json["error"]["message"]
    assert call(app, "GET", "/api/vehicles/gps-9", role="viewer").status_code == 404  # not processed here
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").rglob("*.parquet"))
    assert call(app, "GET", "/api/audit", role="admin").json["count"] == 0  # nothing recorded as done


def test_without_kafka_the_server_processes_ingest_itself(app: Flask) -> None:
    assert isinstance(app.extensions["smartcity.ingest"], DirectIngest)


def test_the_production_server_refuses_settings_nobody_could_log_in_with() -> None:
    nothing = Settings(_env_file=None)
    assert any("SMARTCITY_USERS" in p and "SMARTCITY_API_TOKENS" in p for p in production_problems(nothing))
    tokens = Settings(_env_file=None, api_tokens="viewer:v")
    assert production_problems(tokens) == []
    (problem,) = production_problems(tokens, workers=2)
    assert "SMARTCITY_SECRET_KEY" in problem
    assert production_problems(Settings(_env_file=None, users="a:admin:pw", secret_key="k"), workers=4) == []
