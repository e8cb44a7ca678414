"""Write endpoints: incident actions, the audit log, and HTTP ingest for devices."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, current_app, jsonify, request

from app import actions
from app.api import _int_arg, bp, store
from app.api.errors import ApiError
from app.auth import ACT, ADMIN, INGEST, current_user, require
from pipeline.validation import DeadLetter, Validator


@bp.post("/emergency/incidents/<id:incident_id>/acknowledge")
@require(*ACT)
def acknowledge(incident_id: str) -> Response:
    return jsonify(actions.acknowledge_incident(incident_id, current_user() or "unknown"))


@bp.post("/emergency/incidents/<id:incident_id>/resolve")
@require(*ACT)
def resolve(incident_id: str) -> tuple[Response, int]:
    event = actions.resolve_incident(incident_id, current_user() or "unknown")
    return jsonify(status="accepted", event=event), 202


@bp.get("/audit")
@require(*ADMIN)
def audit() -> Response:
    entries = actions.audit_log(store(), _int_arg("limit", 200, 1, 10_000))
    return jsonify(count=len(entries), entries=entries)


@bp.post("/ingest/<stream>")
@require(*INGEST)
def ingest(stream: str) -> tuple[Response, int]:
    """One event or an array. Valid events go to the bus; any invalid one makes the answer
    a 422 naming each problem, and is recorded as a dead letter by the processor."""
    topics: dict[str, str] = current_app.config["SMARTCITY_TOPICS"]
    if stream not in topics:
        raise ApiError(404, f"unknown stream {stream!r}; streams: {', '.join(topics)}")
    try:
        body: Any = orjson.loads(request.get_data())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    items = body if isinstance(body, list) else [body]
    limit = current_app.config["SMARTCITY_MAX_INGEST_EVENTS"]
    if len(items) > limit:
        raise ApiError(413, f"{len(items)} events in one request; the limit is {limit}")
    validator: Validator = current_app.extensions["smartcity.validator"]
    raw = [orjson.dumps(item) for item in items]
    problems = []
    for index, payload in enumerate(raw):
        out = validator.validate(stream, payload, source="http")
        if isinstance(out, DeadLetter):
            problems.append({"index": index, "reason": out.reason})
    keyed = [(_key(item), payload) for item, payload in zip(items, raw, strict=True)]
    actions.ingest()(topics[stream], keyed)
    accepted = len(items) - len(problems)
    if problems:
        return jsonify(accepted=accepted, rejected=problems), 422
    return jsonify(accepted=accepted), 202


def _key(item: Any) -> bytes | None:
    device = item.get("device_id") if isinstance(item, dict) else None
    return device.encode() if isinstance(device, str) else None
