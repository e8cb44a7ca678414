"""Zones, alert rules (admins write them, audited with the rule book's version) and the alert inbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, jsonify, request

from app import actions
from app.api import _int_arg, bp, store
from app.api.errors import ApiError
from app.auth import ACT, ADMIN, READ, current_user, require
from pipeline.alerts import AlertLog
from pipeline.rulebook import RuleBook, RuleBookError


def rule_book() -> RuleBook:
    """The app's zones and rules, beside the speed layer (its prefix)."""
    book: RuleBook | None = current_app.extensions.get("smartcity.rulebook")
    if book is None:
        book = current_app.extensions["smartcity.rulebook"] = store().rule_book()
    return book


def alert_log() -> AlertLog:
    """The app's alert log (``SMARTCITY_ALERTS_PREFIX`` before its ``{alerts}`` keys)."""
    log: AlertLog | None = current_app.extensions.get("smartcity.alerts")
    if log is None:
        prefix = current_app.config.get("SMARTCITY_ALERTS_PREFIX", "")
        log = current_app.extensions["smartcity.alerts"] = store().alert_log(prefix)
    return log


def _body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "the body must be JSON")
    return body


def _change(what: str, do: Callable[[], Any], details: Callable[[], dict[str, str]]) -> Any:
    """Apply one change of the rule book and audit it (who, what, the version it made); the
    details are read once the change is made, so from a body it found valid."""
    try:
        result = do()
    except RuleBookError as exc:
        raise ApiError(exc.status, exc.message) from None
    version = result[1] if isinstance(result, tuple) else result
    actions.audit(store(), what, current_user() or "unknown", version=str(version), **details())
    return result


@bp.get("/zones")
@require(*READ)
def zones() -> Response:
    book = rule_book().load()
    return jsonify(version=book.version, zones=list(book.zones.values()))


@bp.post("/zones")
@require(*ADMIN)
def add_zone() -> tuple[Response, int]:
    body = _body()
    zone_id, version = _change(
        "zone_add", lambda: rule_book().add_zone(body), lambda: {"name": str(body["properties"]["name"])}
    )
    return jsonify(id=zone_id, version=version), 201


@bp.delete("/zones/<id:zone_id>")
@require(*ADMIN)
def delete_zone(zone_id: str) -> Response:
    version = _change("zone_delete", lambda: rule_book().delete_zone(zone_id), lambda: {"zone": zone_id})
    return jsonify(id=zone_id, version=version)


@bp.get("/rules")
@require(*READ)
def rules() -> Response:
    book = rule_book().load()
    return jsonify(version=book.version, rules=list(book.rules.values()))


@bp.post("/rules")
@require(*ADMIN)
def add_rule() -> tuple[Response, int]:
    body = _body()
    rule_id, version = _change("rule_add", lambda: rule_book().add_rule(body), lambda: {"name": str(body["name"])})
    return jsonify(id=rule_id, version=version), 201


@bp.delete("/rules/<id:rule_id>")
@require(*ADMIN)
def delete_rule(rule_id: str) -> Response:
    version = _change("rule_delete", lambda: rule_book().delete_rule(rule_id), lambda: {"rule": rule_id})
    return jsonify(id=rule_id, version=version)


@bp.get("/alerts")
@require(*READ)
def alerts() -> Response:
    state = request.args.get("state", "unread")
    if state not in ("unread", "all"):
        raise ApiError(400, "state must be unread or all")
    log = alert_log()
    rows = log.list(state, _int_arg("limit", 200, 1, 10_000))  # type: ignore[arg-type]
    return jsonify(count=len(rows), unread=log.unread_count(), alerts=rows)


@bp.post("/alerts/<id:alert_id>/acknowledge")
@require(*ACT)
def acknowledge_alert(alert_id: str) -> Response:
    alert = alert_log().acknowledge(alert_id, current_user() or "unknown", datetime.now(UTC).isoformat())
    if alert is None:
        raise ApiError(404, f"no alert {alert_id!r}")
    actions.audit(store(), "alert_acknowledge", current_user() or "unknown", alert=alert_id)
    return jsonify(alert)
