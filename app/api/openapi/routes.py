"""Every route of the server, one dict each: the one place to document a route.

Keys of an entry:
- ``route``: ``"METHOD /path/{param}"`` (Flask's ``<param>`` written ``{param}``);
- ``summary``, optional ``description``, ``tag`` (one of ``TAGS``);
- ``roles``: who may call it (``app.auth`` tuples); absent means public. Protected routes get
  the security schemes and the 401/403 answers added by ``app.api.openapi.build``;
- ``parameters``, ``body`` (an OpenAPI requestBody), ``responses``: ``{status: text}`` for an
  error (the shared ``Error`` body) or a plain answer, ``{status: response object}`` otherwise;
- ``websocket``: True for a WebSocket route (refused sockets are closed, not answered 401/403);
- ``speed_layer``: True when it needs the speed layer: ``build`` adds the 503 (with ``Retry-After``)
  it answers while Redis does not.

tests/unit/test_openapi.py fails when a route of the app is missing here, when one is here
that the app does not serve, and when an answer does not match what is written here.
"""

from __future__ import annotations

from typing import Any

from app.actions import NAME_CHARS, NOTE_CHARS
from app.api.history import MAX_RANGE
from app.api.openapi import alert_routes
from app.api.openapi.parameters import entity_id, json, limit, path, query
from app.api.openapi.schemas import STRING, Schema, ref
from app.api.routing import INCIDENT_ACTIONS
from app.auth import ACT, ADMIN, INGEST, READ
from app.webhooks import DELIVERY_HEADER, MAX_HOOKS, MAX_SECRET_LENGTH, MAX_URL_LENGTH, SIGNATURE_HEADER
from pipeline import views
from pipeline.schemas import COMMON, SEVERITIES, STREAMS, VEHICLE_TYPES, fields
from pipeline.speed_layer import SpeedLayerConfig

# the longest ids the validator lets through (a longer one names nothing: a 404)
DEVICE_ID_LENGTH = next(f.max_length for f in COMMON if f.name == "device_id")
INCIDENT_ID_LENGTH = next(f.max_length for f in fields("emergency_data") if f.name == "incidentId")

Route = dict[str, Any]
PARQUET = "application/vnd.apache.parquet"

TAGS = {
    "city": "The current state of the city, from the speed layer.",
    "incidents": "Incidents and what operators do about them (audited).",
    "history": "Hourly aggregates and routes from the lake, as JSON, CSV or Parquet.",
    "ingest": "Events from devices that speak HTTP rather than Kafka.",
    "webhooks": "Alerts sent out to other systems as signed HTTP POSTs (admins; audited).",
    "push": "Live updates over a WebSocket.",
    "operations": "Health, metrics and this documentation.",
    "session": "The console's login session (a cookie the WebSocket and the API accept too).",
    **alert_routes.TAGS,
}


def _body(props: dict[str, Schema], example: dict[str, Any]) -> dict[str, Any]:
    """A JSON object body with exactly ``props``, all required."""
    schema = {"type": "object", "required": list(props), "properties": props}
    return {"required": True, "content": {"application/json": {"schema": schema, "example": example}}}


def page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": STRING}}}


def redirect(description: str, cookie: bool = True) -> dict[str, Any]:
    headers: dict[str, Any] = {"Location": {"description": "where to go next", "schema": STRING}}
    if cookie:
        headers["Set-Cookie"] = {"description": "the session cookie", "schema": STRING}
    return {"description": description, "headers": headers}


def _downloads(schema: str, description: str) -> dict[str, Any]:
    """A history answer: JSON, or a CSV or Parquet attachment (``format=``)."""
    return {
        "description": f"{description}; csv and parquet come as attachments (Content-Disposition)",
        "content": {
            "application/json": {"schema": ref(schema)},
            "text/csv": {"schema": STRING},
            PARQUET: {"schema": {"type": "string", "contentMediaType": PARQUET}},
        },
    }


_RANGE = [
    query("start", {"type": "string", "format": "date-time"}, "ISO-8601 (no zone means UTC); default end - 24 h",
          example="2026-11-26T10:00:00Z"),
    query("end", {"type": "string", "format": "date-time"}, "ISO-8601, exclusive (no zone means UTC); default now",
          example="2026-11-26T12:00:00Z"),
    query("format", {"type": "string", "enum": ["json", "csv", "parquet"], "default": "json"},
          "json, or a csv or parquet download"),
]  # fmt: skip
_RANGE_ERROR = (
    f"start/end not ISO-8601 times, start not before end, a range over {MAX_RANGE.days} days, or a bad format"
)

# One valid event per stream: the examples of the ingest body (the tests post each one)
EXAMPLE_EVENTS: dict[str, dict[str, Any]] = {
    "vehicle_data": {
        "id": "6b0c8e51-9a4e-4f0e-8f3b-1d2c3e4f5a6b", "device_id": "car-0042", "timestamp": "2026-11-26T10:00:00Z",
        "location": [52.4402, 13.5231], "speed": 31.5, "direction": "North-East", "make": "Volkswagen",
        "model": "ID.3", "year": 2022, "fuel_type": "Electric", "vehicle_type": "car", "heading": 42.0,
    },
    "gps_data": {
        "device_id": "car-0042", "timestamp": "2026-11-26T10:00:00Z", "location": [52.4402, 13.5231],
        "speed": 31.5, "direction": "North-East", "vehicle_type": "car",
    },
    "traffic_data": {
        "device_id": "cam-007", "camera_id": "cam-007", "timestamp": "2026-11-26T10:00:00Z",
        "location": [52.4411, 13.5264], "speed": 18.0, "vehicle_count": 14, "congestion_level": "moderate",
    },
    "weather_data": {
        "device_id": "ws-01", "timestamp": "2026-11-26T10:00:00Z", "location": [52.44, 13.52], "temperature": 7.5,
        "weather_condition": "Rain", "humidity": 88.0, "wind_speed": 14.0, "precipitation": 2.5,
        "airQualityIndex": 42.0,
    },
    "emergency_data": {
        "device_id": "unit-7", "timestamp": "2026-11-26T10:00:00Z", "location": [52.4431, 13.5302],
        "incidentId": "inc-1001", "incident_type": "fire", "status": "Active",
        "description": "Smoke from a roof", "severity": "high",
    },
}  # fmt: skip

_INGEST_BODY = {
    "required": True,
    "description": "One event or an array of events of the stream named in the path, in the wire format: "
    "each must match that stream's schema (`#/components/schemas/<stream>_event`). At most "
    "SMARTCITY_MAX_INGEST_EVENTS events (default 1000) per request.",
    "content": {
        "application/json": {
            "schema": {"anyOf": [ref("Event"), {"type": "array", "items": ref("Event")}]},
            "examples": {s: {"summary": f"one {s} event", "value": e} for s, e in EXAMPLE_EVENTS.items()},
        }
    },
}

_EPOCH_S = {"type": "string", "pattern": "^[0-9]+$", "description": "epoch seconds (uint64: a string in JSON)"}
_GTFS_RT_JSON = {
    "type": "object",
    "description": "A GTFS-Realtime FeedMessage in protobuf's canonical JSON, with the specification's field names",
    "required": ["header", "entity"],
    "properties": {
        "header": {
            "type": "object",
            "required": ["gtfs_realtime_version", "incrementality", "timestamp"],
            "properties": {
                "gtfs_realtime_version": {"const": "2.0"},
                "incrementality": {"const": "FULL_DATASET"},
                "timestamp": _EPOCH_S,
            },
        },
        "entity": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "vehicle"],
                "properties": {
                    "id": STRING,
                    "vehicle": {
                        "type": "object",
                        "required": ["vehicle", "position", "timestamp"],
                        "properties": {
                            "vehicle": {"type": "object", "required": ["id"], "properties": {"id": STRING}},
                            "position": {
                                "type": "object",
                                "required": ["latitude", "longitude"],
                                "properties": {
                                    "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                                    "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                                    "bearing": {"type": "number", "description": "degrees clockwise from north"},
                                    "speed": {"type": "number", "minimum": 0, "description": "m/s"},
                                },
                            },
                            "timestamp": _EPOCH_S,
                        },
                    },
                },
            },
        },
    },
}
GTFS_RT = "application/x-protobuf"

_WS_DESCRIPTION = """A WebSocket (RFC 6455): the server pushes JSON text messages, the client sends nothing.

The first message is a `snapshot` of the whole city; then, at most once a second, a `delta` with only
what changed: vehicles as rows whose columns `vehicle_fields` names, incidents, traffic sensors and
weather stations as objects, and the summary. A client that reads slowly gets later deltas merged into
the pending one (the newest state per entity wins). Each message is `#/components/schemas/RealtimeMessage`.

`?encoding=gzip`: the same JSON gzipped, in binary frames. Credentials: the console's session cookie,
`Authorization: Bearer <token>`, or `?token=` for clients that cannot set headers; without a viewer,
operator or admin role the socket is closed at once (close code 1008) and gets nothing."""

_WEBHOOK_DELIVERY = f"""Each new alert (`GET /api/alerts`) of `min_severity` or above is POSTed to `url`
as JSON, the alert object itself; with `rules` (rule ids from `GET /api/rules`), only the alerts those
rules raise (the alert's `rule`), still of `min_severity` or above. Headers:

- `{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>`;
- `{DELIVERY_HEADER}`: an id of this alert to this webhook, the same on every try (deliveries are at
  least once: drop a repeat by it); `X-Smartcity-Attempt`: 1 to 5.

Any 2xx answer delivers it; anything else (another status, no answer within 5 s, no connection) is
tried again, 5 tries over about a minute with exponential backoff and jitter; after the last, a dead
letter records it (`GET /api/webhooks`, and the console's System tab). Redirects are not followed.
`url`: http or https, printable ASCII, at most {MAX_URL_LENGTH} characters; the secret at most
{MAX_SECRET_LENGTH} characters. Severities: {", ".join(SEVERITIES)}."""

ROUTES: list[Route] = [
    {
        "route": "GET /api/health",
        "tag": "operations",
        "summary": "Component status and data freshness",
        "responses": {
            200: json("Health", "the speed layer answers (status degraded: no vehicle event for 2 minutes)"),
            503: json("Health", "the speed layer is unreachable"),
        },
    },
    {
        "route": "GET /api/system",
        "tag": "operations",
        "summary": "Pipeline health: processors, per-stream counters and lag, the latest dead letters, unread topics",
        "description": "What the console's System tab shows. Processors (the embedded one, the Spark job's driver) "
        "publish their status to the speed layer each second, so any console process answers the same.",
        "roles": READ,
        "responses": {200: json("System", "the pipeline's health")},
    },
    {
        "route": "GET /api/vehicles/locations",
        "speed_layer": True,
        "tag": "city",
        "summary": "Active vehicles, most recently seen first",
        "roles": READ,
        "parameters": [
            query(
                "bbox",
                {
                    "type": "array",
                    "items": {"type": "number", "minimum": -180, "maximum": 180},
                    "minItems": 4,
                    "maxItems": 4,
                },
                "south,west,north,east in degrees (-90 <= south < north <= 90, -180 <= west < east <= 180)",
                style="form",
                explode=False,
                example=[52.43, 13.51, 52.45, 13.54],
            ),
            query(
                "type",
                {"type": "string", "examples": list(VEHICLE_TYPES)},
                f"only vehicles of this type: {', '.join(VEHICLE_TYPES)}, or another simulator's (a type no "
                "vehicle has matches none)",
            ),
            limit(1000, 1, 20_000, "vehicles"),
        ],
        "responses": {200: json("VehicleLocations", "the vehicles"), 400: "a bad bbox or limit"},
    },
    {
        "route": "GET /api/find",
        "speed_layer": True,
        "tag": "city",
        "summary": "Find active vehicles by id, licence plate or road",
        "description": "Case, spaces and dashes are ignored. An exact id or plate comes first, then ones that start "
        "with the text, then ones that contain it; `match` says which field matched.",
        "roles": READ,
        "parameters": [
            query(
                "q",
                {"type": "string", "minLength": 1, "maxLength": 64},
                "id, plate or road name",
                required=True,
                example="B-KX 4821",
            ),
            limit(10, 1, 100, "vehicles"),
        ],
        "responses": {200: json("FoundVehicles", "the matches, best first"), 400: "no q, or q too long"},
    },
    {
        "route": "GET /api/vehicles/{vehicle_id}",
        "speed_layer": True,
        "tag": "city",
        "summary": "One vehicle's latest state with its recent track",
        "roles": READ,
        "parameters": [entity_id("vehicle_id", "the vehicle's device_id", DEVICE_ID_LENGTH)],
        "responses": {200: json("Vehicle", "the vehicle"), 404: "no such vehicle in the speed layer"},
    },
    {
        "route": "GET /api/emergency/incidents",
        "speed_layer": True,
        "tag": "incidents",
        "summary": "Incidents: active ones oldest first, resolved ones newest first",
        "roles": READ,
        "parameters": [
            query(
                "status",
                {"type": "string", "enum": ["active", "resolved", "all"], "default": "active"},
                "which incidents (resolved ones stay listed for a day)",
            ),
            limit(200, 1, 5000, "incidents"),
            query(
                "since",
                {"type": "string", "format": "date-time"},
                "only incidents resolved (active ones: first seen) at or after this time; ISO-8601, no zone means UTC",
                example="2026-11-26T10:00:00Z",
            ),
            query("type", STRING, "only incidents of this incident_type"),
            query("severity", {"type": "string", "enum": list(SEVERITIES)}, "only incidents of this severity"),
        ],
        "responses": {
            200: json("Incidents", "the incidents"),
            400: "a bad status, limit, since or severity",
        },
    },
    {
        "route": "GET /api/emergency/incidents/{incident_id}",
        "speed_layer": True,
        "tag": "incidents",
        "summary": "One incident with its assignee, acknowledgement, notes and history",
        "description": "The history is the incident's lifecycle, oldest first: reported, resolved or reopened "
        "(by the device that sent the event), acknowledged, assigned and noted (by the operator), each with "
        f"when. The newest {SpeedLayerConfig.incident_log_len} lines are kept, as long as the incident is. An id "
        f"ending in /{', /'.join(INCIDENT_ACTIONS)} names that action's URL here (a 405): such an incident is "
        "read from the list.",
        "roles": READ,
        "parameters": [entity_id("incident_id", "the incident's incidentId", INCIDENT_ID_LENGTH)],
        "responses": {200: json("IncidentDetails", "the incident"), 404: "no such incident"},
    },
    {
        "route": "POST /api/emergency/incidents/{incident_id}/assign",
        "speed_layer": True,
        "tag": "incidents",
        "summary": "Assign an incident to a user (audited; a line of its history)",
        "roles": ACT,
        "parameters": [entity_id("incident_id", "the incident's incidentId", INCIDENT_ID_LENGTH)],
        "body": _body(
            {
                "user": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": NAME_CHARS,
                    "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$",
                    "description": "who the incident is assigned to: one line of printable text "
                    "(leading and trailing blanks are trimmed)",
                }
            },
            {"user": "olga"},
        ),
        "responses": {
            200: json("IncidentDetails", "the incident, assigned"),
            400: f"no user, or not one line of 1 to {NAME_CHARS} printable characters once trimmed",
            404: "no such incident",
        },
    },
    {
        "route": "POST /api/emergency/incidents/{incident_id}/notes",
        "speed_layer": True,
        "tag": "incidents",
        "summary": "Add a note to an incident (audited; a line of its history)",
        "roles": ACT,
        "parameters": [entity_id("incident_id", "the incident's incidentId", INCIDENT_ID_LENGTH)],
        "body": _body(
            {
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": NOTE_CHARS,
                    "description": "the note (leading and trailing blanks are trimmed)",
                }
            },
            {"text": "Second engine on its way"},
        ),
        "responses": {
            201: json("IncidentDetails", "the incident with the note"),
            400: f"no text, or not 1 to {NOTE_CHARS} characters once trimmed",
            404: "no such incident",
        },
    },
    {
        "route": "POST /api/emergency/incidents/{incident_id}/acknowledge",
        "speed_layer": True,
        "tag": "incidents",
        "summary": "Acknowledge an incident (who and when are kept, and audited)",
        "roles": ACT,
        "parameters": [entity_id("incident_id", "the incident's incidentId", INCIDENT_ID_LENGTH)],
        "responses": {200: json("AcknowledgedIncident", "the incident, acknowledged"), 404: "no such incident"},
    },
    {
        "route": "POST /api/emergency/incidents/{incident_id}/resolve",
        "speed_layer": True,
        "tag": "incidents",
        "summary": "Resolve an incident",
        "description": "Sends a Resolved emergency_data event through the ingest path, so the resolution "
        "reaches the speed layer and the lake like any event; audited.",
        "roles": ACT,
        "parameters": [entity_id("incident_id", "the incident's incidentId", INCIDENT_ID_LENGTH)],
        "responses": {
            202: json("Resolution", "the Resolved event, accepted"),
            404: "no such incident",
            409: "the incident is already resolved",
            503: "the bus did not take the event (Kafka unreachable, or the embedded bus full): nothing recorded",
        },
    },
    {
        "route": "GET /api/audit",
        "speed_layer": True,
        "tag": "incidents",
        "summary": "Who acknowledged, assigned, annotated or resolved what, and when, newest first",
        "roles": ADMIN,
        "parameters": [limit(200, 1, 10_000, "entries")],
        "responses": {200: json("AuditLog", "the audit log"), 400: "limit is not an integer from 1 to 10,000"},
    },
    {
        "route": "GET /api/traffic/conditions",
        "speed_layer": True,
        "tag": "city",
        "summary": "Traffic sensors, most congested first",
        "roles": READ,
        "responses": {200: json("TrafficConditions", "every reporting sensor")},
    },
    {
        "route": "GET /api/weather/current",
        "speed_layer": True,
        "tag": "city",
        "summary": "Weather stations' latest readings",
        "roles": READ,
        "responses": {200: json("WeatherStations", "every reporting station")},
    },
    {
        "route": "GET /api/analytics/summary",
        "speed_layer": True,
        "tag": "city",
        "summary": "City summary counters",
        "roles": READ,
        "responses": {200: json("Summary", "the summary")},
    },
    {
        "route": "GET /api/history/{view}",
        "tag": "history",
        "summary": "Hourly aggregates from the lake over a time range",
        "description": "traffic: speed and vehicles per sensor; incidents: new incidents per type; weather: "
        "per station; distance: km driven per vehicle. Hours are UTC.",
        "roles": READ,
        "parameters": [path("view", "which aggregate", {"type": "string", "enum": list(views.VIEWS)}), *_RANGE],
        "responses": {
            200: _downloads("HistoryRows", "one row per hour and key"),
            400: _RANGE_ERROR,
            404: "no such view",
        },
    },
    {
        "route": "GET /api/history/vehicles/{vehicle_id}/route",
        "tag": "history",
        "summary": "One vehicle's positions over a time range, in time order",
        "roles": READ,
        "parameters": [entity_id("vehicle_id", "the vehicle's device_id"), *_RANGE],
        "responses": {200: _downloads("Route", "the positions (none for an unknown vehicle)"), 400: _RANGE_ERROR},
    },
    {
        "route": "POST /api/ingest/{stream}",
        "tag": "ingest",
        "summary": "Ingest one event or an array of events",
        "description": "Valid events go to the bus (and on to the speed layer and the lake); invalid ones make "
        "the answer a 422 naming each problem, and are recorded as dead letters. Each event is judged on its own "
        "(one holding a number out of range, e.g. 1e400, is dead-lettered and the others go on), and every event "
        "the body carried is counted: received = valid + dead letters.",
        "roles": INGEST,
        "parameters": [path("stream", "the stream", {"type": "string", "enum": list(STREAMS)})],
        "body": _INGEST_BODY,
        "responses": {
            202: json("IngestAccepted", "every event valid, all sent on"),
            400: "the body is not JSON: it is counted as one event and dead-lettered, with the body (up to the "
            "payload limit) as its raw payload",
            404: "no such stream (nothing counted)",
            413: "too many events, or too many bytes, in one request: refused whole, nothing counted",
            422: json("IngestRejected", "some events invalid (the valid ones were sent on)"),
            503: "the bus did not take the events (Kafka unreachable or did not acknowledge within 5 s, or the "
            "embedded bus full): send them again later",
        },
    },
    {
        "route": "GET /gtfs-rt/vehicle-positions",
        "speed_layer": True,
        "tag": "city",
        "summary": "The city's buses as a GTFS-Realtime VehiclePositions feed, for trip planners",
        "description": "A FeedMessage (gtfs_realtime_version 2.0, incrementality FULL_DATASET): one entity per "
        "active bus with its id, position, bearing, speed in m/s and the time of its latest report (epoch "
        "seconds). Binary protobuf by default; `?format=json` for people.",
        "roles": READ,
        "parameters": [
            query(
                "format",
                {"type": "string", "enum": ["protobuf", "json"], "default": "protobuf"},
                "protobuf (application/x-protobuf), or json: the same feed in protobuf's JSON",
            )
        ],
        "responses": {
            200: {
                "description": "the feed",
                "content": {
                    GTFS_RT: {"schema": {"type": "string", "contentMediaType": GTFS_RT}},
                    "application/json": {"schema": _GTFS_RT_JSON},
                },
            },
            400: "format is neither protobuf nor json",
        },
    },
    {
        "route": "POST /api/webhooks",
        "speed_layer": True,
        "tag": "webhooks",
        "summary": "Send alerts of a severity and above (of some rules, or of all) to a URL",
        "description": _WEBHOOK_DELIVERY,
        "roles": ADMIN,
        "body": {"required": True, "content": {"application/json": {"schema": ref("WebhookNew")}}},
        "responses": {
            201: json("WebhookCreated", "the webhook's id"),
            400: "not a JSON object with exactly url, secret and min_severity (and optionally rules); or the URL is "
            "not an http(s) URL of a host (with no credentials in it), or is too long; or the secret is empty, too "
            "long or not text; or rules is not a list of distinct rule ids, or names a rule that does not exist",
            409: f"there are {MAX_HOOKS} webhooks already",
        },
    },
    {
        "route": "GET /api/webhooks",
        "speed_layer": True,
        "tag": "webhooks",
        "summary": "The webhooks (secrets hidden), each with its delivery status, and the latest dead letters",
        "roles": ADMIN,
        "responses": {200: json("Webhooks", "the webhooks, oldest first, and the newest dead letters")},
    },
    {
        "route": "DELETE /api/webhooks/{hook_id}",
        "speed_layer": True,
        "tag": "webhooks",
        "summary": "Stop sending alerts to a webhook (audited)",
        "roles": ADMIN,
        "parameters": [path("hook_id", "the webhook's id", {"type": "string", "minLength": 1})],
        "responses": {204: {"description": "deleted"}, 404: "no such webhook"},
    },
    {
        "route": "GET /metrics",
        "tag": "operations",
        "summary": "Prometheus metrics: events per stream, sink errors, latency, city gauges, sockets",
        "responses": {
            200: {"description": "Prometheus text format 0.0.4", "content": {"text/plain": {"schema": STRING}}}
        },
    },
    {
        "route": "GET /openapi.json",
        "tag": "operations",
        "summary": "This document (OpenAPI 3.1)",
        "responses": {
            200: {"description": "the document", "content": {"application/json": {"schema": {"type": "object"}}}}
        },
    },
    {
        "route": "GET /docs",
        "tag": "operations",
        "summary": "This document, readable and tryable (Swagger UI, served from this server)",
        "responses": {200: page("the page")},
    },
    {
        "route": "GET /api/live",
        "speed_layer": True,
        "tag": "push",
        "summary": "The live city as one message: the snapshot /ws/realtime sends first",
        "description": "For clients whose socket is down (the console polls it then): the same message, "
        "built by the same hub at most once a second.",
        "roles": READ,
        "responses": {200: json("RealtimeData", "a snapshot of the city")},
    },
    {
        "route": "GET /ws/realtime",
        "tag": "push",
        "summary": "Live deltas of the city (WebSocket)",
        "description": _WS_DESCRIPTION,
        "roles": READ,
        "websocket": True,
        "parameters": [
            {
                "name": "Upgrade",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "enum": ["websocket"]},
                "description": "a WebSocket handshake (with Connection, Sec-WebSocket-Key, Sec-WebSocket-Version)",
            },
            query(
                "encoding",
                {"type": "string", "enum": ["text", "gzip"], "default": "text"},
                "gzip: gzipped JSON in binary frames",
            ),
        ],
        "responses": {101: {"description": "Switching Protocols: messages follow (see the description)"}},
    },
    {
        "route": "GET /login",
        "tag": "session",
        "summary": "The console's sign-in page, or a one-click sign-in with a token",
        "parameters": [
            query("token", STRING, "a viewer, operator or admin token: starts a session and redirects to next"),
            query("next", STRING, "a path on this server to go to once signed in (default /)"),
        ],
        "responses": {200: page("the sign-in page"), 302: redirect("signed in: the session cookie is set")},
    },
    {
        "route": "POST /login",
        "tag": "session",
        "summary": "Sign in with a user name and password (SMARTCITY_USERS)",
        "body": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["user", "password"],
                        "properties": {
                            "user": STRING,
                            "password": {"type": "string", "format": "password"},
                            "next": {"type": "string", "description": "a path on this server"},
                        },
                    }
                }
            },
        },
        "responses": {
            302: redirect("signed in: the session cookie is set, on to next"),
            200: page("unknown user or wrong password: the page again, saying so"),
            400: page("no user or no password field in the form: the page again, saying so"),
        },
    },
    {
        "route": "GET /logout",
        "tag": "session",
        "summary": "End the console session",
        "responses": {302: redirect("signed out (the session cookie cleared): on to the sign-in page", cookie=False)},
    },
]
ROUTES += alert_routes.ROUTES
