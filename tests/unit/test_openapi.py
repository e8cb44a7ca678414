"""``/openapi.json`` describes every route of the server, and every answer matches it.

Each documented operation is called with Flask's test client (the WebSocket with a real client)
over the seeded city and a simulated lake; the status must be one the document lists for that
operation and the body must match its schema. Then the document's own promises are checked the
other way round: each role it names, each bound and enum of a parameter, each status it lists.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import fakeredis
import orjson
import pytest
import redis
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from redis.backoff import NoBackoff
from redis.retry import Retry
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from werkzeug.test import TestResponse

from app import create_app
from app.api.openapi.routes import EXAMPLE_EVENTS
from app.hub import UNREACHABLE, status
from app.server import Server
from app.store import Store
from app.webhooks import MAX_HOOKS
from pipeline import views
from pipeline.exceptions import BusFull
from pipeline.lake import LakeWriter, open_lake
from pipeline.schemas import COMMON, STREAMS, fields
from pipeline.speed_layer import VEHICLE_ROW, SpeedLayer
from tests.city import NOW, ZONE, api_settings, seed, seed_alerts, simulated_lake

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
RANGE = urlencode({"start": START.isoformat(), "end": (START + timedelta(hours=1)).isoformat()})
TOKENS = {"viewer": "viewer-token", "operator": "operator-token", "admin": "admin-token", "ingest": "ingest-token"}
BOX = "bbox=52.43,13.51,52.45,13.54"
GPS = {"device_id": "gps-9", "timestamp": NOW.isoformat(), "location": [52.44, 13.52], "speed": 12.0}
# a value for each path parameter, naming something the seeded city has
PATH_VALUES = {
    "vehicle_id": "car-1",
    "incident_id": "i-1",
    "view": "traffic",
    "stream": "gps_data",
    "zone_id": "z-1",
    "rule_id": "r-1",
    "alert_id": "a-1",
    "hook_id": "h-1",
}
RULE = {"name": "fast in the centre", "kind": "speed_in_zone", "zone": "z-1", "threshold": 50, "severity": "low"}
REQUIRED_QUERY = {"/api/find": {"q": "car"}}  # operations that need a query parameter to answer
HOOK = {"url": "https://ops.example.com/hooks/smartcity", "secret": "s3cret", "min_severity": "high"}
FILES = "static"  # how the endpoints serving files end: Flask's, Dash's assets, Swagger UI's


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fifteen simulated minutes of a 40-vehicle city in a lake, for the history answers."""
    root = tmp_path_factory.mktemp("openapi")
    simulated_lake(LakeWriter(*open_lake(str(root / "lake"))), START, steps=90, incidents_per_hour=60, seed=4)
    return root


@pytest.fixture(scope="module")
def app(lake: Path) -> Flask:
    """The seeded city (tests/city.py) over that lake. Shared by the module: the cases that change
    it (acknowledge, resolve, ingest) only touch what no other case reads back."""
    speed = SpeedLayer(fakeredis.FakeRedis(), "oa:")
    seed(speed)
    seed_alerts(speed)
    return create_app(api_settings(lake), store=Store(speed))


@pytest.fixture(scope="module")
def doc(app: Flask) -> dict[str, Any]:
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json
    return body


def call(app: Flask, method: str, url: str, role: str | None = None, body: Any = None) -> TestResponse:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
    if isinstance(body, bytes) or url.startswith("/login"):  # bytes as they are, or the sign-in form
        return app.test_client().open(url, method=method, data=body, headers=headers)
    return app.test_client().open(url, method=method, json=body, headers=headers)


def schema_errors(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    """What is wrong with ``value`` under ``schema``, whose ``#/components/…`` refs point into ``doc``."""
    rooted = {**schema, "components": doc["components"]}  # 2020-12 ignores the unknown keyword
    errors = Draft202012Validator(rooted).iter_errors(value)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def check(doc: dict[str, Any], method: str, template: str, resp: TestResponse) -> None:
    """The answer's status is listed for the operation, and its body is what the document says."""
    op = doc["paths"][template][method.lower()]
    status = str(resp.status_code)
    assert status in op["responses"], f"{method} {template} answered {status}, documented {sorted(op['responses'])}"
    answer = op["responses"][status]
    for header in answer.get("headers", {}):
        assert header in resp.headers, f"{method} {template} {status}: no {header}"
    content = answer.get("content")
    if not content:
        return
    assert resp.mimetype in content, f"{method} {template} {status}: {resp.mimetype} is not documented"
    if resp.mimetype == "application/json":
        errors = schema_errors(doc, content[resp.mimetype]["schema"], resp.json)
        assert not errors, f"{method} {template} {status}: {errors[:5]}"


P_INCIDENT = "/api/emergency/incidents/{incident_id}"
P_HISTORY = "/api/history/{view}"
P_ROUTE = "/api/history/vehicles/{vehicle_id}/route"
P_INGEST = "/api/ingest/{stream}"
P_GTFS = "/gtfs-rt/vehicle-positions"
P_ZONE, P_RULE, P_ACK = "/api/zones/{zone_id}", "/api/rules/{rule_id}", "/api/alerts/{alert_id}/acknowledge"
BOWTIE = {**ZONE, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}
P_HOOKS = "/api/webhooks"

# (role, method, documented path, request, body, expected status)
CASES: list[tuple[str | None, str, str, str, Any, int]] = [
    (None, "GET", "/api/health", "/api/health", None, 200),
    ("viewer", "GET", "/api/system", "/api/system", None, 200),
    ("viewer", "GET", "/api/vehicles/locations", "/api/vehicles/locations", None, 200),
    ("viewer", "GET", "/api/vehicles/locations", "/api/vehicles/locations?" + BOX + "&type=car&limit=5", None, 200),
    ("viewer", "GET", "/api/vehicles/locations", "/api/vehicles/locations?bbox=53,13,52,14", None, 400),
    ("viewer", "GET", "/api/vehicles/locations", "/api/vehicles/locations?bbox=a,b,c,d", None, 400),
    ("viewer", "GET", "/api/vehicles/{vehicle_id}", "/api/vehicles/car-1", None, 200),
    ("viewer", "GET", "/api/vehicles/{vehicle_id}", "/api/vehicles/nope", None, 404),
    ("viewer", "GET", "/api/emergency/incidents", "/api/emergency/incidents?status=all", None, 200),
    ("viewer", "GET", "/api/emergency/incidents", "/api/emergency/incidents?status=maybe", None, 400),
    ("operator", "POST", P_INCIDENT + "/acknowledge", "/api/emergency/incidents/i-1/acknowledge", None, 200),
    ("operator", "POST", P_INCIDENT + "/acknowledge", "/api/emergency/incidents/nope/acknowledge", None, 404),
    ("operator", "POST", P_INCIDENT + "/resolve", "/api/emergency/incidents/i-1/resolve", None, 202),
    ("admin", "POST", P_INCIDENT + "/resolve", "/api/emergency/incidents/i-2/resolve", None, 409),
    ("operator", "POST", P_INCIDENT + "/resolve", "/api/emergency/incidents/nope/resolve", None, 404),
    ("admin", "GET", "/api/audit", "/api/audit", None, 200),
    ("admin", "GET", "/api/audit", "/api/audit?limit=abc", None, 400),
    ("viewer", "GET", "/api/traffic/conditions", "/api/traffic/conditions", None, 200),
    ("viewer", "GET", "/api/weather/current", "/api/weather/current", None, 200),
    ("viewer", "GET", "/api/analytics/summary", "/api/analytics/summary", None, 200),
    ("viewer", "GET", "/api/live", "/api/live", None, 200),
    ("viewer", "GET", P_HISTORY, "/api/history/incidents?" + RANGE, None, 200),
    ("viewer", "GET", P_HISTORY, "/api/history/nope?" + RANGE, None, 404),
    ("viewer", "GET", P_HISTORY, "/api/history/traffic?start=yesterday", None, 400),
    ("viewer", "GET", P_HISTORY, "/api/history/traffic?end=0001-01-01T00:00:00", None, 400),
    ("viewer", "GET", P_HISTORY, "/api/history/traffic?start=2026-01-01T00:00:00&end=2026-03-01T00:00:00", None, 400),
    ("viewer", "GET", P_ROUTE, "/api/history/vehicles/car-0001/route?" + RANGE, None, 200),
    ("viewer", "GET", P_ROUTE, "/api/history/vehicles/car-0001/route?format=xml", None, 400),
    ("ingest", "POST", P_INGEST, "/api/ingest/gps_data", [GPS, GPS], 202),
    ("ingest", "POST", P_INGEST, "/api/ingest/gps_data", [GPS, {**GPS, "speed": -5}, {"device_id": "x"}], 422),
    ("ingest", "POST", P_INGEST, "/api/ingest/gps_data", b"{oops", 400),
    ("admin", "POST", P_INGEST, "/api/ingest/spaceships", GPS, 404),
    ("ingest", "POST", P_INGEST, "/api/ingest/gps_data", [GPS] * 1001, 413),
    ("viewer", "GET", "/api/find", "/api/find?q=car-1", None, 200),
    ("viewer", "GET", "/api/find", "/api/find?q=", None, 400),
    ("viewer", "GET", P_GTFS, P_GTFS, None, 200),
    ("viewer", "GET", P_GTFS, P_GTFS + "?format=json", None, 200),
    ("viewer", "GET", P_GTFS, P_GTFS + "?format=xml", None, 400),
    (None, "GET", "/metrics", "/metrics", None, 200),
    (None, "GET", "/openapi.json", "/openapi.json", None, 200),
    (None, "GET", "/docs", "/docs", None, 200),
    (None, "GET", "/login", "/login", None, 200),
    (None, "GET", "/login", "/login?token=viewer-token&next=/docs", None, 302),
    (None, "POST", "/login", "/login", {"user": "olga", "password": "pw-o"}, 302),
    (None, "POST", "/login", "/login", {"user": "olga", "password": "wrong"}, 200),
    (None, "POST", "/login", "/login", {"user": "olga"}, 400),
    ("viewer", "GET", P_HISTORY, "/api/history/traffic?start=", None, 400),
    (None, "GET", "/logout", "/logout", None, 302),
    ("viewer", "GET", "/api/zones", "/api/zones", None, 200),
    ("admin", "POST", "/api/zones", "/api/zones", ZONE, 201),
    ("admin", "POST", "/api/zones", "/api/zones", BOWTIE, 400),
    ("admin", "POST", "/api/zones", "/api/zones", {**ZONE, "properties": {}}, 400),
    ("admin", "DELETE", P_ZONE, "/api/zones/z-1", None, 409),
    ("admin", "DELETE", P_ZONE, "/api/zones/nope", None, 404),
    ("viewer", "GET", "/api/rules", "/api/rules", None, 200),
    ("admin", "POST", "/api/rules", "/api/rules", {"name": "smog", "kind": "aqi", "threshold": 150}, 201),
    ("admin", "POST", "/api/rules", "/api/rules", {**RULE, "zone": "nope"}, 400),
    ("admin", "POST", "/api/rules", "/api/rules", {**RULE, "threshold": None}, 400),
    ("admin", "DELETE", P_RULE, "/api/rules/nope", None, 404),
    ("admin", "DELETE", P_RULE, "/api/rules/r-1", None, 200),
    ("admin", "DELETE", P_ZONE, "/api/zones/z-1", None, 200),
    ("viewer", "GET", "/api/alerts", "/api/alerts", None, 200),
    ("viewer", "GET", "/api/alerts", "/api/alerts?state=all&limit=5", None, 200),
    ("viewer", "GET", "/api/alerts", "/api/alerts?state=maybe", None, 400),
    ("operator", "POST", P_ACK, "/api/alerts/a-1/acknowledge", None, 200),
    ("operator", "POST", P_ACK, "/api/alerts/nope/acknowledge", None, 404),
    ("admin", "POST", P_HOOKS, P_HOOKS, HOOK, 201),
    ("admin", "POST", P_HOOKS, P_HOOKS, {**HOOK, "url": "ftp://ops.example.com/"}, 400),
    ("admin", "GET", P_HOOKS, P_HOOKS, None, 200),
    ("admin", "DELETE", P_HOOKS + "/{hook_id}", P_HOOKS + "/nope", None, 404),
]  # fmt: skip


# known contradictions of the document, reported: each fails here until it is fixed, then says so
KNOWN: dict[tuple[str, int], str] = {}  # (url, status) -> why the server does not match its document yet


@pytest.mark.parametrize(
    ("role", "method", "template", "url", "body", "status"),
    [
        pytest.param(*c, id=f"{c[3][:60]}-{c[5]}", marks=[pytest.mark.xfail(strict=True, reason=KNOWN[c[3], c[5]])])
        if (c[3], c[5]) in KNOWN
        else pytest.param(*c, id=f"{c[3][:60]}-{c[5]}")
        for c in CASES
    ],
)
def test_each_answer_is_documented_and_matches_its_schema(
    app: Flask, doc: dict[str, Any], role: str | None, method: str, template: str, url: str, body: Any, status: int
) -> None:
    resp = call(app, method, url, role, body)
    assert resp.status_code == status, resp.data[:300]
    check(doc, method, template, resp)


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), path, op) for path, ops in doc["paths"].items() for m, op in ops.items()]


def url_of(template: str, query: dict[str, Any] | None = None) -> str:
    url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], template)
    query = {**REQUIRED_QUERY.get(template, {}), **(query or {})}
    return url + (f"?{urlencode(query)}" if query else "")


def body_of(template: str) -> Any:
    return {P_INGEST: [GPS], "/api/zones": ZONE, "/api/rules": RULE, P_HOOKS: HOOK}.get(template)


def test_each_role_the_document_names_is_the_one_the_server_enforces(app: Flask, doc: dict[str, Any]) -> None:
    for method, template, op in operations(doc):
        roles = op.get("x-roles")
        if roles is None:
            assert op["security"] == [], f"{method} {template} is public but asks for credentials"
            continue
        if template == "/ws/realtime":
            continue  # test_the_websocket_speaks_as_documented
        url, body = url_of(template), body_of(template)
        anonymous = call(app, method, url, None, body)
        assert anonymous.status_code == 401, (method, template)
        check(doc, method, template, anonymous)
        for role in set(TOKENS) - set(roles):
            refused = call(app, method, url, role, body)
            assert refused.status_code == 403, (method, template, role)
            check(doc, method, template, refused)
        if method == "GET":  # each role allowed gets an answer (the writes have cases of their own)
            for role in roles:
                assert call(app, method, url, role, body).status_code == 200, (template, role)


def test_each_documented_status_is_seen_in_these_tests(doc: dict[str, Any]) -> None:
    """The document promises no answer that no test has seen (so each status above is real)."""
    seen = {(m, t, s) for _, m, t, _, _, s in CASES}
    seen |= {(m, t, s) for m, t, op in operations(doc) if "x-roles" in op for s in (401, 403)}
    seen |= {("GET", "/ws/realtime", 101), ("GET", "/api/health", 503)}  # tests of their own below
    seen |= {("POST", P_INGEST, 503), ("POST", P_INCIDENT + "/resolve", 503)}
    seen |= {("POST", "/api/zones", 409), ("POST", "/api/rules", 409)}  # test_a_full_rule_book_is_a_documented_409
    seen |= {("POST", P_HOOKS, 409), ("DELETE", P_HOOKS + "/{hook_id}", 204)}  # test_the_webhook_answers_…
    seen |= {(m, t, 503) for m, t, op in operations(doc) if "x-roles" in op and "503" in op["responses"]}  # below
    documented = {(m, t, int(s)) for m, t, op in operations(doc) for s in op["responses"]}
    assert documented <= seen, sorted(documented - seen)


def query_params(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(documented path, parameter) for the query parameters of the GET operations of the HTTP API."""
    return [
        (template, p)
        for method, template, op in operations(doc)
        if method == "GET" and template != "/ws/realtime"
        for p in op["parameters"]
        if p["in"] in ("query", "path")
    ]


def test_integer_bounds_are_the_servers(app: Flask, doc: dict[str, Any]) -> None:
    checked = 0
    for template, p in query_params(doc):
        schema = p["schema"]
        if schema.get("type") != "integer":
            continue
        low, high = schema["minimum"], schema.get("maximum")
        assert call(app, "GET", url_of(template, {p["name"]: low}), "admin").status_code == 200
        if high is not None:
            assert call(app, "GET", url_of(template, {p["name"]: high}), "admin").status_code == 200
            too_high = call(app, "GET", url_of(template, {p["name"]: high + 1}), "admin")
            assert too_high.status_code == 400, (template, p["name"])
            check(doc, "GET", template, too_high)
        if template == "/api/audit":
            continue  # test_the_audit_limit_is_refused_below_one
        too_low = call(app, "GET", url_of(template, {p["name"]: low - 1}), "admin")
        assert too_low.status_code == 400, (template, p["name"])
        check(doc, "GET", template, too_low)
        checked += 1
    assert checked >= 2  # locations and incidents


def test_the_audit_limit_is_refused_below_one(app: Flask, doc: dict[str, Any]) -> None:
    for bad in ("0", "-3", "abc"):
        resp = call(app, "GET", f"/api/audit?limit={bad}", "admin")
        assert resp.status_code == 400, bad
        check(doc, "GET", "/api/audit", resp)


def test_every_enum_value_is_accepted(app: Flask, doc: dict[str, Any]) -> None:
    for template, p in query_params(doc):
        for value in p["schema"].get("enum", ()):
            if p["in"] == "path":
                url = url_of(template.replace("{" + p["name"] + "}", value))
            else:
                url = url_of(template, {p["name"]: value})
            resp = call(app, "GET", url, "viewer")
            assert resp.status_code == 200, (template, p["name"], value, resp.data[:200])
            check(doc, "GET", template, resp)


def test_history_answers_are_iso_times_with_the_documented_columns(app: Flask, doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for view in views.VIEWS:
        body = call(app, "GET", f"/api/history/{view}?{RANGE}", "viewer").json
        assert body["count"] > 0, view
        (documented,) = [s for s in schemas.values() if s.get("title") == f"{view} hour"]
        assert set(body["rows"][0]) == set(documented["properties"]), view
        assert datetime.fromisoformat(body["rows"][0]["hour"]) >= START  # ISO-8601, not an HTTP date
    (point, *_) = call(app, "GET", f"/api/history/vehicles/car-0001/route?{RANGE}", "viewer").json["rows"]
    assert datetime.fromisoformat(point["event_time"]).tzinfo is not None


def test_the_health_of_an_unreachable_speed_layer_is_a_documented_503(doc: dict[str, Any], tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    dead = redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    down = create_app(api_settings(tmp_path), store=Store(SpeedLayer(dead)))
    resp = down.test_client().get("/api/health")
    assert resp.status_code == 503 and resp.json["components"]["speed_layer"]["ok"] is False
    check(doc, "GET", "/api/health", resp)


def test_each_operation_needing_the_speed_layer_answers_a_documented_503_without_it(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    server = fakeredis.FakeServer()
    speed = SpeedLayer(fakeredis.FakeRedis(server=server))
    seed(speed)
    down = create_app(api_settings(tmp_path), store=Store(speed))
    server.connected = False  # Redis went away after the app started (ingest: the processor retries, then
    # keeps the events for the lake; the bus's 503 has a test of its own)
    checked = []
    for method, template, op in operations(doc):
        if "503" not in op["responses"] or "x-roles" not in op or template in ("/ws/realtime", P_INGEST):
            continue
        resp = call(down, method, url_of(template), "admin", body_of(template))
        assert resp.status_code == 503, (method, template, resp.data[:200])
        assert resp.json["error"]["message"].startswith("speed layer unavailable"), (method, template)
        check(doc, method, template, resp)
        checked.append(template)
    assert "/api/vehicles/{vehicle_id}" in checked and "/api/find" in checked and len(checked) >= 22


def test_a_full_rule_book_is_a_documented_409(
    doc: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    speed = SpeedLayer(fakeredis.FakeRedis())
    seed_alerts(speed)  # one zone, one rule
    full = create_app(api_settings(tmp_path), store=Store(speed))
    monkeypatch.setattr("pipeline.rulebook.MAX_ZONES", 1)
    monkeypatch.setattr("pipeline.rulebook.MAX_RULES", 1)
    for template, body in (("/api/zones", ZONE), ("/api/rules", RULE)):
        resp = call(full, "POST", template, "admin", body)
        assert resp.status_code == 409, resp.json
        check(doc, "POST", template, resp)


def test_the_webhook_answers_are_documented(doc: dict[str, Any], tmp_path: Path) -> None:
    """A hook deleted (204), and one too many (409), on an app of their own."""
    speed = SpeedLayer(fakeredis.FakeRedis())
    full = create_app(api_settings(tmp_path), store=Store(speed))
    made = [call(full, "POST", P_HOOKS, "admin", HOOK) for _ in range(MAX_HOOKS)]
    assert {m.status_code for m in made} == {201}
    refused = call(full, "POST", P_HOOKS, "admin", HOOK)
    assert refused.status_code == 409
    check(doc, "POST", P_HOOKS, refused)
    deleted = call(full, "DELETE", f"{P_HOOKS}/{made[0].json['id']}", "admin")
    assert deleted.status_code == 204 and deleted.data == b""
    check(doc, "DELETE", P_HOOKS + "/{hook_id}", deleted)
    assert call(full, "POST", P_HOOKS, "admin", HOOK).status_code == 201  # room again


def test_a_bus_that_does_not_take_events_is_a_documented_503(doc: dict[str, Any], tmp_path: Path) -> None:
    def refuse(topic: str, items: Any) -> None:
        raise BusFull(f"{topic}: no room for {len(items)} events")

    speed = SpeedLayer(fakeredis.FakeRedis())
    seed(speed)
    full = create_app(api_settings(tmp_path), store=Store(speed), ingest=refuse)
    posted = call(full, "POST", "/api/ingest/vehicle_data", "ingest", EXAMPLE_EVENTS["vehicle_data"])
    assert posted.status_code == 503 and "no room" in posted.json["error"]["message"]
    check(doc, "POST", P_INGEST, posted)
    resolved = call(full, "POST", "/api/emergency/incidents/i-1/resolve", "operator")
    assert resolved.status_code == 503
    check(doc, "POST", P_INCIDENT + "/resolve", resolved)
    assert speed.states("i", ["i-1"])[0]["status"] == "Active"  # nothing recorded


def test_each_ingest_example_is_its_streams_event_and_accepted(app: Flask, doc: dict[str, Any]) -> None:
    examples = doc["paths"][P_INGEST]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == set(STREAMS)
    for stream, example in examples.items():
        assert example["value"] == EXAMPLE_EVENTS[stream]
        assert not schema_errors(doc, {"$ref": f"#/components/schemas/{stream}_event"}, example["value"])
        resp = call(app, "POST", f"/api/ingest/{stream}", "ingest", example["value"])
        assert resp.status_code == 202, resp.json
        check(doc, "POST", P_INGEST, resp)


def test_the_event_schemas_refuse_what_the_validator_refuses(doc: dict[str, Any]) -> None:
    event = {"$ref": "#/components/schemas/gps_data_event"}
    assert not schema_errors(doc, event, GPS)
    for bad in ({**GPS, "speed": 900}, {**GPS, "location": [95, 13]}, {k: v for k, v in GPS.items() if k != "speed"}):
        assert schema_errors(doc, event, bad)
    incident = {**EXAMPLE_EVENTS["emergency_data"], "status": "Maybe"}
    assert schema_errors(doc, {"$ref": "#/components/schemas/emergency_data_event"}, incident)


def test_the_document_is_valid_openapi_3_1_and_its_examples_fit(doc: dict[str, Any]) -> None:
    validate_spec(doc)
    assert doc["openapi"].startswith("3.1")
    for method, template, op in operations(doc):
        for p in op["parameters"]:
            if "example" in p:
                assert not schema_errors(doc, p["schema"], p["example"]), (method, template, p["name"])
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["token"]["in"] == "query"
    assert schemes["session"]["in"] == "cookie"
    row = doc["components"]["schemas"]["VehicleLocation"]["properties"]
    assert tuple(row) == VEHICLE_ROW


def served_routes(app: Flask) -> set[tuple[str, str]]:
    """(method, path) of every rule of the app but files and the console's own (Dash's and its pages)."""
    out = set()
    for rule in app.url_map.iter_rules():
        module = app.view_functions[rule.endpoint].__module__
        if rule.endpoint.endswith(FILES) or module.startswith(("dash.", "app.console")):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        out |= {(m, path) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    return out


def test_every_route_of_the_app_is_in_the_openapi_document(app: Flask, doc: dict[str, Any]) -> None:
    documented = {(m, t) for m, t, _ in operations(doc)}
    served = served_routes(app)
    assert {("GET", "/metrics"), ("GET", "/ws/realtime"), ("POST", "/api/ingest/{stream}")} <= served
    assert served == documented


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def test_the_docs_page_loads_only_local_assets(app: Flask) -> None:
    client = app.test_client()  # no credentials: the docs are public
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.data.decode()
    links = _Links()
    links.feed(page.data.decode())
    assert any(u.endswith("swagger-ui-bundle.js") for u in links.urls)
    for url in links.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    script = page.data.decode().split("SwaggerUIBundle({", 1)[1]
    assert "validatorUrl: null" in script  # else Swagger UI sends the document to validator.swagger.io


@pytest.fixture
def server(app: Flask) -> Iterator[Server]:
    srv = Server(app, "127.0.0.1", 0).start()
    yield srv
    srv.stop()


def test_the_websocket_speaks_as_documented(doc: dict[str, Any], server: Server) -> None:
    op = doc["paths"]["/ws/realtime"]["get"]
    assert set(op["responses"]) == {"101"} and op["x-roles"] == ["viewer", "operator", "admin"]
    url = server.url.replace("http://", "ws://") + "/ws/realtime"
    with ws_connect(f"{url}?token=viewer-token", max_size=None) as ws:
        assert ws.response.status_code == 101
        message = orjson.loads(ws.recv(timeout=5))
    assert message["type"] == "snapshot" and {"car-1", "bus-1"} <= {row[0] for row in message["vehicles"]}
    errors = schema_errors(doc, {"$ref": "#/components/schemas/RealtimeMessage"}, message)
    assert not errors, errors[:5]
    for credentials in ("", "?token=ingest-token"):  # anonymous, and a role that may not read
        with ws_connect(url + credentials) as ws:
            assert ws.response.status_code == 101
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_the_heartbeat_and_the_status_messages_are_documented(doc: dict[str, Any], app: Flask) -> None:
    hub = app.extensions["smartcity.hub"]
    beat = hub._delta({"v": set(), "t": set(), "w": set(), "i": set()})  # what a quiet city gets
    for message in (beat, status(UNREACHABLE)):
        errors = schema_errors(
            doc, {"$ref": "#/components/schemas/RealtimeMessage"}, orjson.loads(orjson.dumps(message))
        )
        assert not errors, (message["type"], errors[:5])
    assert schema_errors(doc, {"$ref": "#/components/schemas/RealtimeMessage"}, {"type": "status", "ts": 1})


def test_event_schemas_list_every_alias_and_a_camel_case_event_matches(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for stream in STREAMS:
        props = schemas[f"{stream}_event"]["properties"]
        for f in COMMON + fields(stream):
            assert set(f.names) <= set(props), f"{stream}: {f.names}"
    camel = {"deviceId": "gps-1", "timestamp": 1_795_780_798_000, "speed": 3.0, "vehicleType": "bus", "x": 1}
    assert schema_errors(doc, schemas["gps_data_event"], camel) == []
    assert schema_errors(doc, schemas["gps_data_event"], {"timestamp": "2026-11-27T12:00:00", "speed": 3.0})
