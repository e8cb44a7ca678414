"""The alert, zone and rule routes as the console expects them (the contract of ``/api/alerts``,
``/api/zones``, ``/api/rules``), in memory, for browser tests of the console on a server that
does not serve them itself. A server that has the real routes is used as it is:
:func:`alert_routes` says which, and :class:`Alerts` adds alerts through whichever serves."""

from __future__ import annotations

import hashlib
import itertools
import threading
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from app.api.errors import ApiError
from app.auth import ACT, ADMIN, READ, current_user, require

bp = Blueprint("contract_stub", __name__, url_prefix="/api")


class Memory:
    """Alerts (newest first by time), zones and rules."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.alerts: dict[str, dict[str, Any]] = {}
        self.zones: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1)


def _memory() -> Memory:
    memory: Memory = current_app.extensions["smartcity.test_contract"]
    return memory


@bp.get("/alerts")
@require(*READ)
def alerts() -> Response:
    state = request.args.get("state", "unread")
    with _memory().lock:
        rows = [a for a in _memory().alerts.values() if state == "all" or not a["acknowledged_by"]]
    rows.sort(key=lambda a: a["time"], reverse=True)
    return jsonify({"alerts": rows[:200]})


@bp.post("/alerts/<alert_id>/acknowledge")
@require(*ACT)
def acknowledge(alert_id: str) -> Response:
    with _memory().lock:
        alert = _memory().alerts.get(alert_id)
        if alert is None:
            raise ApiError(404, f"no alert {alert_id}")
        if not alert["acknowledged_by"]:
            alert.update(acknowledged_by=current_user(), acknowledged_at=datetime.now(UTC).isoformat())
        return jsonify(alert)


@bp.get("/zones")
@require(*READ)
def zones() -> Response:
    with _memory().lock:
        return jsonify({"zones": list(_memory().zones.values())})


@bp.post("/zones")
@require(*ADMIN)
def add_zone() -> tuple[Response, int]:
    feature = request.get_json(force=True)
    ring = ((feature or {}).get("geometry") or {}).get("coordinates", [[]])[0]
    if (feature.get("geometry") or {}).get("type") != "Polygon" or len(ring) < 4 or ring[0] != ring[-1]:
        raise ApiError(400, "geometry must be a closed Polygon ring")
    if not (feature.get("properties") or {}).get("name"):
        raise ApiError(400, "properties.name is required")
    with _memory().lock:
        zone_id = f"z{next(_memory().ids)}"
        feature["properties"]["id"] = zone_id
        _memory().zones[zone_id] = feature
    return jsonify({"id": zone_id}), 201


@bp.delete("/zones/<zone_id>")
@require(*ADMIN)
def delete_zone(zone_id: str) -> Response:
    with _memory().lock:
        if _memory().zones.pop(zone_id, None) is None:
            raise ApiError(404, f"no zone {zone_id}")
    return jsonify({"deleted": zone_id})


@bp.get("/rules")
@require(*READ)
def rules() -> Response:
    with _memory().lock:
        return jsonify({"rules": list(_memory().rules.values())})


@bp.post("/rules")
@require(*ADMIN)
def add_rule() -> tuple[Response, int]:
    rule = dict(request.get_json(force=True))
    if rule.get("kind") not in ("zone_enter", "zone_exit", "speed_in_zone", "congestion", "aqi"):
        raise ApiError(400, "unknown kind")
    with _memory().lock:
        rule["id"] = f"r{next(_memory().ids)}"
        _memory().rules[rule["id"]] = rule
    return jsonify({"id": rule["id"]}), 201


@bp.delete("/rules/<rule_id>")
@require(*ADMIN)
def delete_rule(rule_id: str) -> Response:
    with _memory().lock:
        if _memory().rules.pop(rule_id, None) is None:
            raise ApiError(404, f"no rule {rule_id}")
    return jsonify({"deleted": rule_id})


def alert_routes(server: Flask) -> bool:
    """Whether ``server`` serves the alert routes itself (else it gets these, in memory)."""
    return any(rule.rule == "/api/alerts" for rule in server.url_map.iter_rules())


def alert(message: str, severity: str = "critical", entity: str = "i-9", kind: str = "incident",
          at: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """An alert as the contract has it."""
    at = at or datetime.now(UTC)
    key = hashlib.sha1(f"{kind}|{entity}|{message}".encode()).hexdigest()[:20]
    return {"id": key, "kind": kind, "severity": severity, "message": message,
            "time": at.isoformat().replace("+00:00", "Z"), "entity": entity, "rule": None,
            "acknowledged_by": None, "acknowledged_at": None}  # fmt: skip


class Alerts:
    """The test's way to raise alerts on ``server`` (before ``start_server``): the server's own
    alert log when it serves the routes, else the in-memory routes above."""

    def __init__(self, server: Flask, redis: Any = None) -> None:
        self.server = server
        self.real = alert_routes(server)
        if self.real:
            from pipeline.alerts import AlertLog  # the server's alert log, on the speed layer's Redis

            self.log = AlertLog(redis)
        else:
            server.extensions["smartcity.test_contract"] = self.memory = Memory()
            server.register_blueprint(bp)

    def add(self, *alerts: dict[str, Any]) -> None:
        if self.real:
            self.log.add(list(alerts))
            return
        with self.memory.lock:
            for a in alerts:
                self.memory.alerts.setdefault(a["id"], dict(a))

    def zones(self) -> list[dict[str, Any]]:
        """What GET /api/zones answers an admin."""
        client = self.server.test_client()
        got = client.get("/api/zones", headers={"Authorization": "Bearer admin-token"})
        assert got.status_code == 200, got.data
        zones: list[dict[str, Any]] = got.json["zones"]
        return zones
