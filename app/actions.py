"""What operators do to the city: acknowledge, assign, annotate and resolve incidents, and ingest events.

A resolution is an ``emergency_data`` event like any other: it goes through the same
ingest path (bus -> validation -> speed layer + lake), so it is in the lake's history
and the speed layer's lifecycle rules apply. Acknowledgements, assignments and notes are state
on the incident (notes a line of its history), written by the speed-layer script like every
change of the city's state (``Store.acknowledge``, ``assign``, ``note``). All are written to the
audit log (a capped Redis stream) with who and when.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import current_app

from app.api.errors import ApiError
from app.auth import ACT, current_role
from app.store import Store
from pipeline.exceptions import PipelineError

Ingest = Callable[[str, Sequence[tuple[bytes | None, bytes]]], None]
AUDIT_MAXLEN = 100_000
NAME_CHARS = 64  # an assignee's name
NOTE_CHARS = 2000  # one note


def ingest() -> Ingest:
    fn: Ingest = current_app.extensions["smartcity.ingest"]
    return fn


def _store() -> Store:
    st: Store = current_app.extensions["smartcity.store"]
    return st


def _incident(incident_id: str) -> dict[str, Any]:
    state = _store().incident(incident_id)
    if state is None:
        raise ApiError(404, f"no incident {incident_id!r}")
    return state


def _check_role() -> None:
    if current_role() not in ACT:
        raise ApiError(403, "only operators and admins act on incidents")


def audit(store: Store, action: str, user: str, **details: str) -> None:
    store.audit({"action": action, "user": user, "at": datetime.now(UTC).isoformat(), **details}, AUDIT_MAXLEN)


def audit_log(store: Store, limit: int = 200) -> list[dict[str, str]]:
    """Newest first."""
    return store.audit_log(limit)


def acknowledge_incident(incident_id: str, user: str) -> dict[str, Any]:
    """Mark an incident as seen by ``user``; returns the incident."""
    _check_role()
    state = _incident(incident_id)
    st = _store()
    now = datetime.now(UTC).isoformat()
    if not st.acknowledge(incident_id, user, now):  # it expired meanwhile
        raise ApiError(404, f"no incident {incident_id!r}")
    audit(st, "acknowledge", user, incident=incident_id)
    return {**state, "acknowledged_by": user, "acknowledged_at": now}


def incident_details(incident_id: str) -> dict[str, Any]:
    """The incident with its notes (oldest first: user, at, text) and its whole history."""
    state = _incident(incident_id)
    history = _store().incident_history(incident_id)
    notes = [{"user": h["by"], "at": h["at"], "text": h["text"]} for h in history if h["event"] == "noted"]
    return {**state, "notes": notes, "history": history}


def _text(body: Any, key: str, limit: int, what: str) -> str:
    """``body[key]``: text of 1 to ``limit`` characters once trimmed, or a 400 saying what is wrong."""
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise ApiError(400, f'the body must be a JSON object with "{key}": {what} (1 to {limit} characters)')
    value = value.strip()
    if not 1 <= len(value) <= limit:
        raise ApiError(400, f'"{key}" must be {what} of 1 to {limit} characters ({len(value)} given)')
    return value


def assignee_of(body: Any) -> str:
    """The user name an assignment names; names are one line of printable text."""
    name = _text(body, "user", NAME_CHARS, "a user name")
    if not name.isprintable():
        raise ApiError(400, '"user" must be one line of printable text')
    return name


def note_of(body: Any) -> str:
    """The text of a note (several lines allowed)."""
    return _text(body, "text", NOTE_CHARS, "the note's text")


def assign_incident(incident_id: str, body: Any, user: str) -> dict[str, Any]:
    """Assign the incident to the user ``body`` names; returns the incident with its history."""
    _check_role()
    assignee = assignee_of(body)
    _incident(incident_id)
    st = _store()
    if not st.assign(incident_id, assignee, user, datetime.now(UTC).isoformat()):  # it expired meanwhile
        raise ApiError(404, f"no incident {incident_id!r}")
    audit(st, "assign", user, incident=incident_id, assignee=assignee)
    return incident_details(incident_id)


def note_incident(incident_id: str, body: Any, user: str) -> dict[str, Any]:
    """Add the note ``body`` carries to the incident; returns the incident with its history."""
    _check_role()
    text = note_of(body)
    _incident(incident_id)
    st = _store()
    if not st.note(incident_id, text, user, datetime.now(UTC).isoformat()):
        raise ApiError(404, f"no incident {incident_id!r}")
    audit(st, "note", user, incident=incident_id, note=text)
    return incident_details(incident_id)


def resolve_incident(incident_id: str, user: str) -> dict[str, Any]:
    """Send a Resolved event for the incident through the ingest path; returns that event."""
    _check_role()
    state = _incident(incident_id)
    if state.get("status") == "Resolved":
        raise ApiError(409, f"incident {incident_id!r} is already resolved")
    # never older than the incident's newest event, or the speed layer would ignore it
    ts_ms = max(int(time.time() * 1000), int(float(state["ts"])) + 1)
    event = {
        "id": str(uuid.uuid4()),
        "device_id": f"operator:{user}"[:128],
        "timestamp": datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(),
        "location": [float(state["lat"]), float(state["lon"])],
        "incidentId": incident_id,
        "incident_type": state.get("incident_type", "unknown"),
        "status": "Resolved",
        "description": f"resolved by {user}"[:2048],
    }
    if state.get("severity"):
        event["severity"] = state["severity"]
    try:
        topic = current_app.config["SMARTCITY_TOPICS"]["emergency_data"]  # the configured name, as for ingest
        ingest()(topic, [(event["device_id"].encode(), orjson.dumps(event))])
    except PipelineError as exc:  # the bus did not take it: say so to the console too
        raise ApiError(503, f"the resolution was not recorded: {exc}") from exc
    audit(_store(), "resolve", user, incident=incident_id)
    return event
