"""``/openapi.json`` (OpenAPI 3.1) and ``/docs`` (a readable page from local assets only)."""

from __future__ import annotations

import html
from typing import Any

from flask import Blueprint, Response, jsonify

from pipeline.schemas import STREAMS, describe

bp = Blueprint("openapi", __name__)

_Q = "query"
# (method, path, summary, roles, parameters [(name, in, type, description)], {status: description})
ENDPOINTS: list[tuple[str, str, str, str, list[tuple[str, str, str, str]], dict[int, str]]] = [
    ("get", "/api/health", "Component status and data freshness", "public", [],
     {200: "healthy", 503: "speed layer unreachable"}),
    ("get", "/api/system", "Pipeline health: processors, per-stream counters, latest dead letters", "viewer", [],
     {200: "system status"}),
    ("get", "/api/vehicles/locations", "Active vehicles, newest first", "viewer", [
        ("bbox", _Q, "string", "south,west,north,east in degrees"),
        ("type", _Q, "string", "vehicle type: car, bus, taxi, truck, ambulance, police, fire"),
        ("limit", _Q, "integer", "1..20000, default 1000")], {200: "vehicles", 400: "bad parameter"}),
    ("get", "/api/vehicles/{vehicle_id}", "One vehicle with its recent track", "viewer",
     [("vehicle_id", "path", "string", "device id")], {200: "vehicle", 404: "unknown vehicle"}),
    ("get", "/api/emergency/incidents", "Incidents by status", "viewer", [
        ("status", _Q, "string", "active (default), resolved or all"), ("limit", _Q, "integer", "1..5000")],
     {200: "incidents", 400: "bad parameter"}),
    ("post", "/api/emergency/incidents/{incident_id}/acknowledge", "Acknowledge an incident", "operator",
     [("incident_id", "path", "string", "incident id")], {200: "acknowledged", 403: "role", 404: "unknown"}),
    ("post", "/api/emergency/incidents/{incident_id}/resolve", "Resolve an incident (a Resolved event)", "operator",
     [("incident_id", "path", "string", "incident id")],
     {202: "resolution event accepted", 403: "role", 404: "unknown", 409: "already resolved"}),
    ("get", "/api/audit", "Who acknowledged or resolved what, newest first", "admin",
     [("limit", _Q, "integer", "entries, default 200")], {200: "audit entries"}),
    ("get", "/api/history/{view}", "Hourly aggregates from the lake: traffic, incidents, weather, distance", "viewer", [
        ("view", "path", "string", "traffic | incidents | weather | distance"),
        ("start", _Q, "string", "ISO-8601, default end - 24 h"), ("end", _Q, "string", "ISO-8601, default now"),
        ("format", _Q, "string", "json (default), csv or parquet")],
     {200: "rows", 400: "bad range or format", 404: "unknown view"}),
    ("get", "/api/history/vehicles/{vehicle_id}/route", "One vehicle's positions over a range", "viewer", [
        ("vehicle_id", "path", "string", "device id"), ("start", _Q, "string", "ISO-8601"),
        ("end", _Q, "string", "ISO-8601"), ("format", _Q, "string", "json, csv or parquet")],
     {200: "positions in time order", 400: "bad range or format"}),
    ("get", "/api/traffic/conditions", "Traffic sensors, most congested first", "viewer", [], {200: "segments"}),
    ("get", "/api/weather/current", "Weather stations' latest readings", "viewer", [], {200: "stations"}),
    ("get", "/api/analytics/summary", "City summary counters", "viewer", [], {200: "summary"}),
    ("post", "/api/ingest/{stream}", "Ingest one event or an array (wire format)", "ingest",
     [("stream", "path", "string", " | ".join(STREAMS))],
     {202: "all accepted", 400: "not JSON", 404: "unknown stream", 413: "too many events",
      422: "some events invalid: each named, recorded as dead letters"}),
]  # fmt: skip


def spec() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, summary, roles, params, responses in ENDPOINTS:
        op: dict[str, Any] = {
            "summary": summary,
            "description": f"Role: {roles}.",
            "parameters": [
                {"name": n, "in": where, "required": where == "path", "schema": {"type": t}, "description": d}
                for n, where, t, d in params
            ],
            "responses": {str(code): {"description": text} for code, text in responses.items()},
        }
        if roles != "public":
            op["security"] = [{"bearer": []}]
            op["responses"].update({"401": {"description": "no credentials"}, "403": {"description": "role"}})
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Smart City API",
            "version": "1",
            "description": 'Live state of the city; errors are {"error": {"status", "message"}}.',
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"events": describe()},
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(spec())


@bp.get("/docs")
def docs() -> str:
    rows = []
    for method, path, summary, roles, params, responses in ENDPOINTS:
        args = "".join(
            f"<li><code>{html.escape(n)}</code> ({where}) {html.escape(d)}</li>" for n, where, _, d in params
        )
        codes = ", ".join(f"{c} {html.escape(t)}" for c, t in responses.items())
        rows.append(
            f"<section class='mb-4'><h2 class='h6'><span class='badge bg-secondary'>{method.upper()}</span> "
            f"<code>{html.escape(path)}</code></h2><p class='mb-1'>{html.escape(summary)} — role: {roles}</p>"
            f"<ul class='small'>{args}</ul><p class='small text-muted'>{codes}</p></section>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Smart City API</title>"
        "<link rel='stylesheet' href='/assets/bootstrap.min.css'></head><body><main class='container my-4'>"
        "<h1 class='h4'>Smart City API</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. "
        "Send <code>Authorization: Bearer &lt;token&gt;</code>.</p>" + "".join(rows) + "</main></body></html>"
    )
