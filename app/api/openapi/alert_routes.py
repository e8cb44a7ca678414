"""The zone, rule and alert routes' entries (``routes.ROUTES`` takes them) and their schemas."""

from __future__ import annotations

from typing import Any

from app.api.openapi.parameters import entity_id, json, limit, query
from app.api.openapi.schemas import INTEGER, NUMBER, STRING, Schema, ref
from app.auth import ACT, ADMIN, READ
from pipeline.alerts import KINDS
from pipeline.rulebook import MAX_MINUTES, MAX_NAME, MAX_VERTICES, RULE_KINDS
from pipeline.schemas import CONGESTION_LEVELS, SEVERITIES, VEHICLE_TYPES

TAGS = {"alerts": "Zones, alert rules (admins) and the alert inbox (operators acknowledge)."}

_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S"}
_POSITION: Schema = {
    "type": "array", "minItems": 2, "maxItems": 2, "description": "[longitude, latitude]",
    "prefixItems": [{"type": "number", "minimum": -180, "maximum": 180},
                    {"type": "number", "minimum": -90, "maximum": 90}],
}  # fmt: skip
_POLYGON: Schema = {
    "type": "object",
    "required": ["type", "coordinates"],
    "description": f"A GeoJSON Polygon in lon/lat: valid (no self-intersection), with area, at most {MAX_VERTICES} "
    "vertices; each ring closed (first position repeated last)",
    "properties": {
        "type": {"const": "Polygon"},
        "coordinates": {"type": "array", "minItems": 1,
                        "items": {"type": "array", "minItems": 4, "items": _POSITION}},
    },
}  # fmt: skip
_ZONE_IN: Schema = {
    "type": "object",
    "description": "A zone to add: a GeoJSON Feature",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "geometry": _POLYGON,
        "properties": {"type": "object", "required": ["name"], "properties": {"name": _NAME}},
    },
}
_ZONE: Schema = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "geometry": _POLYGON,
        "properties": {"type": "object", "required": ["name", "id"], "properties": {"name": STRING, "id": STRING}},
    },
}
_SEVERITY: Schema = {"type": "string", "enum": list(SEVERITIES)}
_RULE_PROPS: dict[str, Schema] = {
    "name": _NAME,
    "kind": {"type": "string", "enum": list(RULE_KINDS)},
    "zone": {**STRING, "description": "a zone's id (zone_enter, zone_exit, speed_in_zone: required)"},
    "vehicle_type": {"type": "string", "enum": list(VEHICLE_TYPES), "description": "only vehicles of this type"},
    "threshold": {**NUMBER, "minimum": 0, "description": "speed_in_zone: km/h (up to 400); congestion: level "
                  f"(0-{len(CONGESTION_LEVELS) - 1}: {', '.join(CONGESTION_LEVELS)}); aqi: AQI (up to 1000)"},
    "minutes": {**NUMBER, "minimum": 0, "maximum": MAX_MINUTES,
                "description": "congestion: how long the level holds first (default 0)"},
    "severity": {**_SEVERITY, "default": "medium"},
}  # fmt: skip
_RULE_IN: Schema = {
    "type": "object",
    "description": "A rule to add. Zone kinds need zone; speed_in_zone, congestion and aqi need threshold.",
    "required": ["name", "kind"],
    "properties": _RULE_PROPS,
}
_RULE: Schema = {"type": "object", "required": ["id", "name", "kind", "severity"],
                 "properties": {"id": STRING, **_RULE_PROPS, "name": STRING}}  # fmt: skip
_NULLABLE_STRING: Schema = {"type": ["string", "null"]}
_ALERT: Schema = {
    "type": "object",
    "required": ["id", "kind", "severity", "message", "time", "entity", "rule", "acknowledged_by", "acknowledged_at"],
    "properties": {
        "id": {**STRING, "description": "deterministic: a replayed batch never raises an alert twice"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "severity": _SEVERITY,
        "message": STRING,
        "time": {"type": "string", "format": "date-time", "description": "event time of what raised it (UTC)"},
        "entity": {**STRING, "description": "the vehicle, segment, station or incident"},
        "rule": {**_NULLABLE_STRING, "description": "the rule's id; null for built-in kinds"},
        "acknowledged_by": _NULLABLE_STRING,
        "acknowledged_at": _NULLABLE_STRING,
    },
}
_VERSION: Schema = {**INTEGER, "description": "the rule book's version after the change"}
_CHANGED: Schema = {"type": "object", "required": ["id", "version"], "properties": {"id": STRING, "version": _VERSION}}

SCHEMAS: dict[str, Schema] = {
    "ZoneIn": _ZONE_IN,
    "Zone": _ZONE,
    "Zones": {"type": "object", "required": ["version", "zones"],
              "properties": {"version": INTEGER, "zones": {"type": "array", "items": ref("Zone")}}},
    "RuleIn": _RULE_IN,
    "Rule": _RULE,
    "Rules": {"type": "object", "required": ["version", "rules"],
              "properties": {"version": INTEGER, "rules": {"type": "array", "items": ref("Rule")}}},
    "RuleBookChange": _CHANGED,
    "Alert": _ALERT,
    "Alerts": {"type": "object", "required": ["count", "unread", "alerts"],
               "properties": {"count": INTEGER, "unread": {**INTEGER, "description": "alerts not acknowledged"},
                              "alerts": {"type": "array", "items": ref("Alert")}}},
}  # fmt: skip


def _body(schema: str, description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {"application/json": {"schema": ref(schema)}}}


ROUTES: list[dict[str, Any]] = [
    {
        "route": "GET /api/zones",
        "speed_layer": True,
        "tag": "alerts",
        "summary": "Zones (GeoJSON Features with properties.id and name) and the rule book's version",
        "roles": READ,
        "responses": {200: json("Zones", "the zones")},
    },
    {
        "route": "POST /api/zones",
        "speed_layer": True,
        "tag": "alerts",
        "summary": "Add a zone (audited)",
        "roles": ADMIN,
        "body": _body("ZoneIn", "a GeoJSON Feature: a Polygon in lon/lat and properties.name"),
        "responses": {
            201: json("RuleBookChange", "added: its id"),
            400: "not a GeoJSON Feature with a valid polygon and a name (the message says why)",
            409: "the most zones there may be exist already",
        },
    },
    {
        "route": "DELETE /api/zones/{zone_id}",
        "speed_layer": True,
        "tag": "alerts",
        "summary": "Delete a zone no rule uses (audited)",
        "roles": ADMIN,
        "parameters": [entity_id("zone_id", "the zone's id")],
        "responses": {
            200: json("RuleBookChange", "deleted"),
            404: "no such zone",
            409: "a rule uses the zone: delete the rule first",
        },
    },
    {
        "route": "GET /api/rules",
        "speed_layer": True,
        "tag": "alerts",
        "summary": "Alert rules and the rule book's version",
        "roles": READ,
        "responses": {200: json("Rules", "the rules")},
    },
    {
        "route": "POST /api/rules",
        "speed_layer": True,
        "tag": "alerts",
        "summary": "Add an alert rule (audited)",
        "description": "zone_enter / zone_exit: a vehicle (optionally of one type) enters or leaves the zone; "
        "speed_in_zone: above threshold km/h in the zone; congestion: a segment at level >= threshold for "
        "minutes; aqi: a station's AQI above threshold. Each fires once on crossing, then again only after "
        "the condition ended.",
        "roles": ADMIN,
        "body": _body("RuleIn", "the rule"),
        "responses": {
            201: json("RuleBookChange", "added: its id"),
            400: "a field missing or out of range, or no such zone (the message says which)",
            409: "the most rules there may be exist already",
        },
    },
    {
        "route": "DELETE /api/rules/{rule_id}",
        "speed_layer": True,
        "tag": "alerts",
        "summary": "Delete an alert rule (audited)",
        "roles": ADMIN,
        "parameters": [entity_id("rule_id", "the rule's id")],
        "responses": {200: json("RuleBookChange", "deleted"), 404: "no such rule"},
    },
    {
        "route": "GET /api/alerts",
        "speed_layer": True,
        "tag": "alerts",
        "summary": "The alert inbox, newest first: unread alerts, or all kept (the newest 10,000)",
        "roles": READ,
        "parameters": [
            query("state", {"type": "string", "enum": ["unread", "all"], "default": "unread"}, "unread or all"),
            limit(200, 1, 10_000, "alerts"),
        ],
        "responses": {200: json("Alerts", "the alerts"), 400: "a bad state or limit"},
    },
    {
        "route": "POST /api/alerts/{alert_id}/acknowledge",
        "speed_layer": True,
        "tag": "alerts",
        "summary": "Acknowledge an alert: it leaves the unread ones (the first acknowledgement stands; audited)",
        "roles": ACT,
        "parameters": [entity_id("alert_id", "the alert's id")],
        "responses": {200: json("Alert", "the alert, acknowledged"), 404: "no such alert"},
    },
]
