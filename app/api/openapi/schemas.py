"""JSON Schemas of the API's bodies (``components/schemas``), derived from the code where it has them.

Events come from the validator itself (``Validator.json_schema``, built from
``pipeline.schemas``); speed-layer states from the same field lists, typed the way
``app.store.typed`` returns them; the rest mirrors the handlers' ``jsonify`` calls.
"""

from __future__ import annotations

from typing import Any

from app.hub import UNREACHABLE
from app.webhooks import FIELDS, MAX_HOOK_RULES, MAX_SECRET_LENGTH, MAX_URL_LENGTH, SEVERITIES
from pipeline.live_model import HEARTBEAT_S, VEHICLE_ROW
from pipeline.schemas import (
    COMMON,
    LOCATION_OPTIONAL,
    STREAMS,
    VEHICLE_TYPES,
    Field,
    fields,
)
from pipeline.speed_layer import EXTRA_BYTES
from pipeline.validation import Validator

Schema = dict[str, Any]

_TYPES = {"str": "string", "float": "number", "int": "integer"}
STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
EPOCH_MS: Schema = {"type": "integer", "description": "epoch milliseconds (UTC)"}
ISO_TIME: Schema = {"type": "string", "format": "date-time", "description": "ISO-8601, UTC"}


# what the audit log records (app.actions.audit's first argument, at each of its callers)
AUDIT_ACTIONS = ["acknowledge", "assign", "note", "resolve", "zone_add", "zone_delete", "rule_add", "rule_delete",
                 "alert_acknowledge", "webhook_create", "webhook_delete"]  # fmt: skip


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def event_name(stream: str) -> str:
    return f"{stream}_event"


def _describe(f: Field) -> str:
    return "; ".join(part for part in (f.doc, f.unit and f"unit: {f.unit}") if part)


def _state_field(f: Field) -> Schema:
    # the speed layer keeps text; app.store.typed turns numeric fields back into numbers
    out: Schema = {"type": _TYPES.get(f.kind, "string")}
    if f.kind == "bool":
        out["enum"] = ["0", "1"]
    if f.choices:
        out["enum"] = list(f.choices)
    if _describe(f):
        out["description"] = _describe(f)
    return out


_EXTRA_STATE: dict[str, Schema] = {
    "extra": {
        "type": "object",
        "description": "fields the newest event that had any sent beyond the schema, as sent (at most "
        f"{EXTRA_BYTES} bytes of JSON: past it the first that fit and `_more`, how many were left out)",
    },
    "clock_skew_s": {
        "type": "number",
        "description": "how far ahead of its receive time the newest event's own clock was, in seconds, "
        "when beyond the tolerance (its event time is then the receive time); 0 otherwise",
    },
}


def _state(
    description: str, streams: tuple[str, ...], extra: dict[str, Schema] | None = None, positioned: bool = True
) -> Schema:
    """A speed-layer entity: id, newest event time and position (``positioned``: always there), plus its
    streams' fields."""
    props: dict[str, Schema] = {
        "id": STRING,
        "ts": {**EPOCH_MS, "description": "time of the newest event (epoch ms)"},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
    }
    for stream in streams:
        for f in fields(stream):
            props.setdefault(f.name, _state_field(f))
    props.update(_EXTRA_STATE)
    props.update(extra or {})
    required = ["id", "ts", "lat", "lon"] if positioned else ["id", "ts"]
    return {"type": "object", "description": description, "required": required, "properties": props}


def _listing(key: str, item: Schema, **extra: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["count", key, *extra],
        "properties": {"count": {"type": "integer", "minimum": 0}, key: {"type": "array", "items": item}, **extra},
    }


BOOLEAN: Schema = {"type": "boolean"}
_STATE = {"type": "string", "enum": ["running", "stale", "stopped", "gone"]}
_PROCESSOR_BRIEF: Schema = {
    "type": "object",
    "required": ["name", "mode", "state", "age_seconds"],
    "properties": {"name": STRING, "mode": STRING, "state": _STATE,
                   "age_seconds": {**NUMBER, "description": "since it last published"}},
}  # fmt: skip
_PROCESSOR_LINE: Schema = {
    "type": "object",
    "required": ["name", "mode", "state", "age_s"],
    "properties": {
        "name": STRING, "mode": STRING, "state": _STATE, "age_s": NUMBER,
        "in_process": {**BOOLEAN, "description": "it runs in this server process"},
        "batches": {"type": ["integer", "null"]}, "received": {"type": ["integer", "null"]},
        "dead_letters": {"type": ["integer", "null"]}, "events_per_s": {"type": ["number", "null"]},
        "lag": {"type": ["integer", "null"], "description": "events waiting (bus depth, or Kafka offsets behind)"},
        "rules_lag": {"type": ["integer", "null"], "minimum": 0,
                      "description": "events in the speed layer its rule engine has not checked yet (null: no "
                                     "engine beside it)"},
        "last_error": STRING,
    },
}  # fmt: skip
_STREAM_COUNTS: Schema = {
    "type": "object",
    "description": "received = valid + dead_letters; where the valid ones went",
    "properties": {k: INTEGER for k in ("received", "valid", "dead_letters", "speed_layer", "lake_rows",
                                         "last_event_ms")},
}  # fmt: skip
_DEAD_LETTER: Schema = {
    "type": "object",
    "description": "one of the newest dead letters (the lake keeps them all under _deadletter/)",
    "properties": {"stream": STRING, "reason": STRING, "source": STRING, "received_ms": INTEGER,
                   "raw": {**STRING, "description": "the payload as received, cut to 300 characters"}},
}  # fmt: skip

_UNREAD_TOPIC: Schema = {
    "type": "object",
    "description": "a Kafka topic with messages that no stream reads (checked by the Spark job every 30 s)",
    "required": ["topic", "messages", "messages_per_s"],
    "properties": {"topic": STRING,
                   "messages": {**INTEGER, "description": "written since the topic was created (its end offsets)"},
                   "messages_per_s": {"type": ["number", "null"], "description": "since the check before"}},
}  # fmt: skip


def _nullable(schema: Schema) -> Schema:
    out = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def event_schema(validator: Validator, stream: str) -> Schema:
    """One stream's wire format as the validator checks it, with each field's doc and unit."""
    schema = validator.json_schema(stream)
    props = schema["properties"]
    for f in COMMON + fields(stream):
        if _describe(f):
            props[f.name]["description"] = _describe(f)
    limits = validator.limits
    props["timestamp"]["description"] = (
        f"ISO-8601 (no zone means {validator.naive_zone}) or epoch seconds/milliseconds; not before 2000. "
        f"A time more than {int(limits.max_future.total_seconds())} s ahead is kept: the event is timed on "
        "arrival and its own time and the skew are stored with it"
    )
    props["location"]["description"] = "[latitude, longitude] in degrees" + (
        "; may be left out (a fix that updates speed and heading only)" if stream in LOCATION_OPTIONAL else ""
    )
    schema["description"] = (
        f"One `{stream}` event: a flat JSON object, at most {limits.max_payload_bytes} bytes and nested at most "
        f"{limits.max_depth} levels. Field names in snake_case or camelCase (each alias is listed; when two names "
        "of one field are sent the canonical one wins). Fields not listed are kept, as JSON, in the lake's "
        "`extra` column and the entity's `extra`."
    )
    return schema


# Vehicle map rows: the columns of SpeedLayer.vehicle_rows (VEHICLE_ROW), also in push messages
_ROW_COLUMNS: dict[str, Schema] = {
    "id": STRING,
    "ts": EPOCH_MS,
    "lat": NUMBER,
    "lon": NUMBER,
    "speed": {"type": "number", "description": "km/h"},
    "heading": {"type": "number", "description": "degrees"},
    "vehicle_type": {"type": "string", "enum": list(VEHICLE_TYPES)},
    "status": STRING,
    "road_name": STRING,
}

_INCIDENT_EXTRA: dict[str, Schema] = {
    "first_seen": {**EPOCH_MS, "description": "time of the incident's first event (epoch ms)"},
    "resolved_at": {**EPOCH_MS, "description": "time of the Resolved event (epoch ms)"},
    "acknowledged_by": {"type": "string", "description": "who acknowledged it: a user, or token:<role>"},
    "acknowledged_at": ISO_TIME,
    "assigned_to": {"type": "string", "description": "who the incident is assigned to"},
    "assigned_at": ISO_TIME,
}
_HISTORY_LINE: Schema = {
    "type": "object",
    "required": ["event", "by", "at"],
    "properties": {
        "event": {"type": "string", "enum": ["reported", "resolved", "reopened", "acknowledged", "assigned", "noted"]},
        "by": {"type": "string", "description": "the operator, or the device that sent the event"},
        "at": {**ISO_TIME, "description": "when (an event's own time, an operator's clock)"},
        "to": {"type": "string", "description": "assigned: to whom"},
        "text": {"type": "string", "description": "noted: the note"},
    },
}
_NOTE: Schema = {
    "type": "object",
    "required": ["user", "at", "text"],
    "properties": {"user": STRING, "at": ISO_TIME, "text": STRING},
}

# the columns of pipeline.views' SQL, per view (tests/unit/test_openapi.py checks them on real rows)
_HOUR: Schema = {"type": "string", "format": "date-time", "description": "start of the UTC hour, ISO-8601"}
_HISTORY_ROWS: dict[str, dict[str, Schema]] = {
    "traffic": {
        "hour": _HOUR, "camera_id": STRING, "segment_id": _nullable(STRING), "road_name": _nullable(STRING),
        "avg_speed_kmh": _nullable(NUMBER), "avg_vehicle_count": _nullable(NUMBER),
        "max_vehicle_count": _nullable(INTEGER), "reports": INTEGER,
    },
    "incidents": {"hour": _HOUR, "incident_type": STRING, "incidents": INTEGER, "high_or_critical": INTEGER},
    "weather": {
        "hour": _HOUR, "station": STRING, "avg_temperature_c": _nullable(NUMBER),
        "max_precipitation_mm_h": _nullable(NUMBER), "max_wind_kmh": _nullable(NUMBER),
        "avg_aqi": _nullable(NUMBER), "reports": INTEGER,
    },
    "distance": {
        "hour": _HOUR, "vehicle": STRING, "vehicle_type": _nullable(STRING), "distance_km": NUMBER,
        "reports": INTEGER,
    },
}  # fmt: skip


def _row(view: str) -> Schema:
    props = _HISTORY_ROWS[view]
    return {"type": "object", "title": f"{view} hour", "required": list(props), "properties": props}


def components(validator: Validator) -> dict[str, Schema]:
    """Every named schema of the document."""
    vehicle_streams = ("vehicle_data", "gps_data")
    incident = _state("An incident and its lifecycle.", ("emergency_data",), _INCIDENT_EXTRA)
    summary: Schema = {
        "type": "object",
        "required": ["active_vehicles", "active_incidents", "congested_segments", "traffic_sensors",
                     "weather_stations", "vehicles_by_type", "last_event_ms"],
        "properties": {
            "active_vehicles": INTEGER, "active_incidents": INTEGER,
            "congested_segments": {"type": "integer", "description": "sensors reporting heavy or severe"},
            "traffic_sensors": INTEGER, "weather_stations": INTEGER,
            "vehicles_by_type": {"type": "object", "properties": dict.fromkeys(VEHICLE_TYPES, INTEGER)},
            "last_event_ms": {
                "type": "object", "description": "newest event per kind: last_v(ehicle), last_t(raffic), "
                "last_w(eather), last_i(ncident)", "additionalProperties": EPOCH_MS,
            },
        },
    }  # fmt: skip
    out: dict[str, Schema] = {
        "Error": {
            "type": "object",
            "description": "Every error under /api/ has this shape, never an HTML page.",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["status", "message"],
                    "properties": {"status": {"type": "integer", "description": "the HTTP status"}, "message": STRING},
                }
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "components", "data_age_seconds"],
            "properties": {
                "status": {
                    "type": "string",
                    "enum": ["ok", "degraded"],
                    "description": "degraded: the lake does not answer, every known processor stopped publishing, "
                    "or no vehicle reported for 2 minutes",
                },
                "components": {
                    "type": "object",
                    "required": ["speed_layer", "lake", "pipeline"],
                    "properties": {
                        "speed_layer": {"type": "object", "required": ["ok"], "properties": {"ok": BOOLEAN}},
                        "lake": {
                            "type": "object",
                            "required": ["ok"],
                            "properties": {
                                "ok": BOOLEAN,
                                "error": STRING,
                                "last_write_age_seconds": _nullable(NUMBER),
                                "errors": _nullable(INTEGER),
                            },
                        },
                        "pipeline": {
                            "type": "object",
                            "required": ["ok", "processors"],
                            "properties": {
                                "ok": {**_nullable(BOOLEAN), "description": "null: no processor known"},
                                "processors": {"type": "array", "items": _PROCESSOR_BRIEF},
                            },
                        },
                    },
                },
                "data_age_seconds": {
                    "type": "object",
                    "description": "seconds since the newest event per kind (vehicles, traffic, weather, incidents)",
                    "additionalProperties": NUMBER,
                },
            },
        },
        "System": {
            "type": "object",
            "description": "What the console's System tab shows.",
            "required": ["now_ms", "store_ok", "accounting", "data_age_s", "dead_letters", "lake", "ws_clients"],
            "properties": {
                "now_ms": NUMBER,
                "store_ok": BOOLEAN,
                "accounting": {
                    **_nullable({"type": "object"}),
                    "description": "every publishing processor's counters summed (null: no processor known)",
                    "properties": {
                        "streams": {"type": "object", "additionalProperties": _STREAM_COUNTS},
                        "totals": {"type": "object", "additionalProperties": INTEGER},
                        "rates_per_s": {"type": "object", "additionalProperties": NUMBER},
                        "lag": {**_nullable({"type": "object"}), "additionalProperties": INTEGER},
                        "latency_ms": {"type": "object", "additionalProperties": _nullable(NUMBER)},
                        "processors": {"type": "array", "items": _PROCESSOR_LINE},
                        "topics": {"type": "array", "items": STRING, "description": "Kafka topics the processors read"},
                        "unread_topics": {
                            **_nullable({"type": "array"}),
                            "items": _UNREAD_TOPIC,
                            "description": "the cluster's topics with messages that no processor reads, still "
                            "written to first (null: no processor looks at a Kafka cluster, e.g. embedded)",
                        },
                        "clocks_ahead": {
                            "type": "array",
                            "description": "devices whose clocks ran ahead past the tolerance, furthest first (their "
                            "events were kept at the time they arrived)",
                            "items": {
                                "type": "object",
                                "required": ["stream", "device_id", "skew_s", "seen_ms"],
                                "properties": {
                                    "stream": STRING,
                                    "device_id": STRING,
                                    "skew_s": NUMBER,
                                    "seen_ms": INTEGER,
                                },
                            },
                        },
                        "speed_layer_pending": INTEGER,
                        "speed_layer_dropped": INTEGER,
                    },
                },
                "speed_layer": {
                    "type": "object",
                    "description": "whether this server reaches the speed layer; events the processors keep for "
                    "it while it is away, and those it never got (the lake has them)",
                    "properties": {
                        "ok": BOOLEAN,
                        "pending_events": INTEGER,
                        "dropped_events": INTEGER,
                        "unreachable_for_s": _nullable(NUMBER),
                    },
                },
                "data_age_s": {"type": "object", "additionalProperties": NUMBER},
                "dead_letters": {"type": "array", "items": _DEAD_LETTER},
                "lake": {
                    "type": "object",
                    "required": ["reachable"],
                    "properties": {
                        "reachable": BOOLEAN,
                        "error": STRING,
                        "last_write_age_s": _nullable(NUMBER),
                        "errors": _nullable(INTEGER),
                    },
                },
                "ws_clients": {**_nullable(INTEGER), "description": "sockets open on this server process"},
            },
        },
        "VehicleLocation": {
            "type": "object",
            "description": "A vehicle on the map (fields it never reported are left out).",
            "required": ["id", "ts", "lat", "lon"],
            "properties": _ROW_COLUMNS,
        },
        "VehicleLocations": _listing("vehicles", ref("VehicleLocation")),
        "FoundVehicle": {
            "type": "object",
            "description": "A vehicle on the map that matched a search, with its plate and what matched.",
            "required": ["id", "ts", "lat", "lon", "match"],
            "properties": {
                **_ROW_COLUMNS,
                "plate": _nullable(STRING),
                "match": {"type": "string", "enum": ["id", "plate", "road"]},
            },
        },
        "FoundVehicles": _listing("vehicles", ref("FoundVehicle")),
        "Vehicle": _state(
            "A vehicle's latest state (telemetry and GPS merged) with its recent track; `lat`/`lon` are its last "
            "known position (none until it reports one).",
            vehicle_streams,
            {
                "src": {"type": "string", "enum": ["vehicle", "gps"], "description": "stream of the newest event"},
                "vehicle_class": {"type": "string", "description": "another simulator's vehicle type, kept as sent"},
                "track": {
                    "type": "array",
                    "description": "recent positions, newest first: [latitude, longitude, epoch ms]",
                    # not prefixItems (a tuple): generic tools (schemathesis, code generators) cannot read it
                    "items": {"type": "array", "items": NUMBER, "minItems": 3, "maxItems": 3},
                },
            },
            positioned=False,
        ),
        "Incident": incident,
        "Incidents": _listing("incidents", ref("Incident")),
        "IncidentDetails": {
            "allOf": [
                ref("Incident"),
                {
                    "type": "object",
                    "required": ["notes", "history"],
                    "properties": {
                        "notes": {"type": "array", "description": "oldest first", "items": _NOTE},
                        "history": {"type": "array", "description": "oldest first", "items": _HISTORY_LINE},
                    },
                },
            ]
        },
        "AcknowledgedIncident": {"allOf": [ref("Incident"), {"required": ["acknowledged_by", "acknowledged_at"]}]},
        "Resolution": {
            "type": "object",
            "required": ["status", "event"],
            "properties": {"status": {"const": "accepted"}, "event": ref(event_name("emergency_data"))},
        },
        "TrafficSensor": _state("A traffic sensor's latest reading.", ("traffic_data",)),
        "TrafficConditions": _listing("segments", ref("TrafficSensor")),
        "WeatherStation": _state("A weather station's latest reading.", ("weather_data",)),
        "WeatherStations": _listing("stations", ref("WeatherStation")),
        "Summary": summary,
        "AuditEntry": {
            "type": "object",
            "required": ["action", "user", "at"],
            "properties": {
                "action": {
                    "type": "string",
                    "enum": [
                        "acknowledge",
                        "assign",
                        "note",
                        "resolve",
                        "zone_add",
                        "zone_delete",
                        "rule_add",
                        "rule_delete",
                        "alert_acknowledge",
                        "webhook_create",
                        "webhook_delete",
                    ],
                },
                "user": {"type": "string", "description": "a console user, or token:<role>"},
                "at": ISO_TIME,
                "incident": STRING,
                "webhook": {"type": "string", "description": "the webhook's id"},
                "url": {"type": "string", "description": "the webhook URL's scheme, host and port (not its path)"},
                "min_severity": STRING,
                "rules": {"type": "string", "description": "webhook_create: its rule ids, comma-separated"},
                "assignee": {"type": "string", "description": "assign: to whom"},
                "note": {"type": "string", "description": "note: its text"},
            },
        },
        "AuditLog": _listing("entries", ref("AuditEntry")),
        "HistoryRows": _listing(
            "rows",
            {"anyOf": [ref(f"{view.capitalize()}Hour") for view in _HISTORY_ROWS]},
            start=ISO_TIME,
            end=ISO_TIME,
        ),
        "RoutePoint": {
            "type": "object",
            "required": ["event_time", "latitude", "longitude"],
            "properties": {"event_time": ISO_TIME, "latitude": NUMBER, "longitude": NUMBER, "speed": _nullable(NUMBER)},
        },
        "Route": _listing("rows", ref("RoutePoint"), vehicle_id=STRING),
        "IngestAccepted": {
            "type": "object",
            "required": ["accepted"],
            "properties": {"accepted": {"type": "integer", "minimum": 0}},
        },
        "IngestRejected": {
            "type": "object",
            "required": ["accepted", "rejected"],
            "properties": {
                "accepted": {"type": "integer", "minimum": 0, "description": "valid events, sent on to the bus"},
                "rejected": {
                    "type": "array",
                    "description": "each invalid event: its index in the request and what is wrong with it",
                    "items": {
                        "type": "object",
                        "required": ["index", "reason"],
                        "properties": {"index": {"type": "integer", "minimum": 0}, "reason": STRING},
                    },
                },
            },
        },
        "RealtimeMessage": {
            "description": "A /ws/realtime message (and GET /api/live's body): the first is a snapshot of the "
            "whole city, then deltas (only what changed since the previous message; at least one every "
            f"{HEARTBEAT_S:g} s, without entities when nothing changed, so that silence means a broken "
            "connection), and a status when the speed layer stops answering (a fresh snapshot follows when it "
            "answers again).",
            "anyOf": [ref("RealtimeData"), ref("RealtimeStatus")],
        },
        "RealtimeData": {
            "type": "object",
            "description": "A snapshot (the whole city: replace what you hold) or a delta (what changed).",
            "required": ["type", "ts", "vehicle_fields", "vehicles"],
            "properties": {
                "type": {"type": "string", "enum": ["snapshot", "delta"]},
                "ts": {
                    **INTEGER,
                    "description": "the server's clock when the message was built (epoch ms): "
                    "the age of the data is ts - event_ms",
                },
                "event_ms": {**_nullable(INTEGER), "description": "newest vehicle event in the message (epoch ms)"},
                "oldest_ms": {**_nullable(INTEGER), "description": "oldest vehicle event in the message (epoch ms)"},
                "vehicle_fields": {"const": list(VEHICLE_ROW), "description": "the columns of each vehicle row"},
                "vehicles": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [
                            s if name in ("id", "ts") else _nullable(s) for name, s in _ROW_COLUMNS.items()
                        ],
                        "minItems": len(VEHICLE_ROW),
                        "maxItems": len(VEHICLE_ROW),
                    },
                },
                "incidents": {"type": "array", "items": ref("Incident")},
                "traffic": {"type": "array", "items": ref("TrafficSensor")},
                "weather": {"type": "array", "items": ref("WeatherStation")},
                "summary": {**ref("Summary"), "description": "the city summary (the console adds its own figures)"},
            },
        },
        "RealtimeStatus": {
            "type": "object",
            "description": "Something on the server's side is wrong; sent once when it goes wrong.",
            "required": ["type", "ts", "error"],
            "properties": {
                "type": {"const": "status"},
                "ts": {**INTEGER, "description": "the server's clock when the message was built (epoch ms)"},
                "error": {"type": "string", "enum": [UNREACHABLE]},
            },
        },
    }
    out.update(_webhooks())
    out.update({f"{view.capitalize()}Hour": _row(view) for view in _HISTORY_ROWS})
    out.update({event_name(stream): event_schema(validator, stream) for stream in STREAMS})
    out["Event"] = {
        "description": "An event of any stream (a request names its stream, whose schema then applies).",
        "anyOf": [ref(event_name(stream)) for stream in STREAMS],
    }
    return out


def _webhooks() -> dict[str, Schema]:
    severity: Schema = {"type": "string", "enum": list(SEVERITIES)}
    nullable_text = _nullable(STRING)
    hook_rules: Schema = {"type": "array", "minItems": 1, "maxItems": MAX_HOOK_RULES, "uniqueItems": True,
                          "items": {"type": "string", "minLength": 1, "maxLength": 64}}  # fmt: skip
    return {
        "WebhookNew": {
            "type": "object",
            "required": list(FIELDS),
            "additionalProperties": False,
            "properties": {
                "url": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_URL_LENGTH,
                    "pattern": "^https?://",
                    "description": "where to POST each alert: http or https, printable ASCII",
                    "examples": ["https://ops.example.com/hooks/smartcity"],
                },
                "secret": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_SECRET_LENGTH,
                    "description": "keys the HMAC-SHA256 signature of each delivery; never shown again",
                },
                "min_severity": {**severity, "description": "alerts of this severity and above are sent"},
                "rules": {
                    **hook_rules,
                    "description": "optional: only alerts raised by these rules (ids from GET /api/rules, each must "
                    "exist) are sent, still at or above min_severity; left out, alerts of every rule and the built-in "
                    "ones (new serious incidents, weather advisories)",
                    "examples": [["r-0123456789ab"]],
                },
            },
        },
        "WebhookCreated": {"type": "object", "required": ["id"], "properties": {"id": STRING}},
        "Webhook": {
            "type": "object",
            "required": ["id", "url", "secret", "min_severity", "rules", "created_at", "created_by", "status"],
            "properties": {
                "id": STRING,
                "url": STRING,
                "secret": {"const": "set", "description": "secrets are never shown"},
                "min_severity": severity,
                "rules": {
                    **_nullable(hook_rules),
                    "description": "the rules whose alerts it takes; null: every alert of min_severity and above",
                },
                "created_at": ISO_TIME,
                "created_by": STRING,
                "status": {
                    "type": "object",
                    "required": [
                        "delivered",
                        "failed",
                        "failed_attempts",
                        "last_outcome",
                        "last_status",
                        "last_error",
                        "last_at",
                    ],
                    "properties": {
                        "delivered": {"type": "integer", "minimum": 0, "description": "alerts delivered"},
                        "failed": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "alerts given up after the last try (dead letters)",
                        },
                        "failed_attempts": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "tries that failed and were tried again",
                        },
                        "last_outcome": {
                            **_nullable({"type": "string", "enum": ["delivered", "retrying", "failed"]}),
                            "description": "the last try's (null: none yet)",
                        },
                        "last_status": {**_nullable(INTEGER), "description": "the HTTP status of the last try"},
                        "last_error": {**nullable_text, "description": "what went wrong in the last try"},
                        "last_at": _nullable(ISO_TIME),
                    },
                },
            },
        },
        "WebhookDeadLetter": {
            "type": "object",
            "required": ["id", "hook", "alert", "attempts", "error", "at"],
            "properties": {
                "id": {"type": "string", "description": "the dead-letter stream entry's id"},
                "hook": {"type": "string", "description": "the webhook's id"},
                "alert": {"description": "the alert as it was sent"},
                "attempts": INTEGER,
                "error": {"type": "string", "description": "the last try's error"},
                "at": ISO_TIME,
            },
        },
        "Webhooks": {
            "type": "object",
            "required": ["webhooks", "dead_letters"],
            "properties": {
                "webhooks": {"type": "array", "items": ref("Webhook")},
                "dead_letters": {
                    "type": "array",
                    "items": ref("WebhookDeadLetter"),
                    "description": "deliveries given up after their last try, newest first",
                },
            },
        },
    }
