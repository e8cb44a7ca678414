"""What operators do to the city: acknowledge and resolve incidents, and ingest events.

A resolution is an ``emergency_data`` event like any other: it goes through the same
ingest path (bus -> validation -> speed layer + lake), so it is in the lake's history
and the speed layer's lifecycle rules apply. Acknowledgements are state on the incident,
written by the speed-layer script like every change of the city's state (``Store.acknowledge``).
Both are written to the audit log (a capped Redis stream) with who and when.
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
