"""Write endpoints: incident actions, the audit log, and HTTP ingest for devices."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from app import actions
from app.api import _int_arg, bp, store
from app.api.errors import ApiError
from app.auth import ACT, ADMIN, INGEST, current_user, require
from app.ingest import posted_events
from pipeline.validation import DeadLetter, Validator


@bp.post("/emergency/incidents/<id:incident_id>/acknowledge")
@require(*ACT)
def acknowledge(incident_id: str) -> Response:
    return jsonify(actions.acknowledge_incident(incident_id, current_user() or "unknown"))


@bp.post("/emergency/incidents/<id:incident_id>/assign")
@require(*ACT)
def assign(incident_id: str) -> Response:
    body = request.get_json(silent=True)
    return jsonify(actions.assign_incident(incident_id, body, current_user() or "unknown"))


@bp.post("/emergency/incidents/<id:incident_id>/notes")
@require(*ACT)
def note(incident_id: str) -> tuple[Response, int]:
    body = request.get_json(silent=True)
    return jsonify(actions.note_incident(incident_id, body, current_user() or "unknown")), 201


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
    """One event or an array. Every event the body carried goes to the bus, which counts it as
    received and then valid or dead-lettered (with the reason): the answer is a 202 when all are
    valid, else a 422 naming each problem. A body that is not JSON is one event, the body itself:
    counted and dead-lettered like any other, and answered with a 400. Only a request refused
    whole carries no event: an unknown stream (404), too many events or bytes (413)."""
    topics: dict[str, str] = current_app.config["SMARTCITY_TOPICS"]
    if stream not in topics:
        raise ApiError(404, f"unknown stream {stream!r}; streams: {', '.join(topics)}")
    validator: Validator = current_app.extensions["smartcity.validator"]
    posted = posted_events(request.get_data(), validator.limits.max_payload_bytes)
    limit = current_app.config["SMARTCITY_MAX_INGEST_EVENTS"]
    if len(posted.events) > limit:
        raise ApiError(413, f"{len(posted.events)} events in one request; the limit is {limit}")
    problems = []
    for index, (_, payload) in enumerate(posted.events):
        out = validator.validate(stream, payload, source="http")
        if isinstance(out, DeadLetter):
            problems.append({"index": index, "reason": out.reason})
    actions.ingest()(topics[stream], posted.events)
    if posted.error:
        raise ApiError(400, f"body is not valid JSON: {posted.error} (recorded as one dead letter)")
    accepted = len(posted.events) - len(problems)
    if problems:
        return jsonify(accepted=accepted, rejected=problems), 422
    return jsonify(accepted=accepted), 202
