"""REST API (JSON) over the speed layer: ``/api/...``."""

from __future__ import annotations

import time

import orjson
from flask import Blueprint, Response, current_app, jsonify, request
from pyarrow import fs as pafs

from app import health as pipeline_health
from app.api import routing
from app.api.errors import ApiError
from app.auth import READ, require
from app.store import BBox, Store

bp = Blueprint("api", __name__, url_prefix="/api")
bp.record_once(routing.add_converter)  # before the routes: the app's map needs it to add them
bp.before_app_request(routing.check_url_size)
bp.before_app_request(routing.route_api)


def store() -> Store:
    """The app's one read-side accessor (set by ``create_app``)."""
    st: Store = current_app.extensions["smartcity.store"]
    return st


def lake() -> tuple[pafs.FileSystem, str]:
    """The app's lake: filesystem and root (set by ``create_app``)."""
    fs_root: tuple[pafs.FileSystem, str] = current_app.extensions["smartcity.lake"]
    return fs_root


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return value


@bp.get("/health")
def health() -> tuple[Response, int]:
    """Component status (speed layer, lake, pipeline) and data freshness (age of the newest event per kind)."""
    app = current_app
    body, code = pipeline_health.health(
        store(), time.time() * 1000, pipeline_health.in_process(app), pipeline_health.lake_probe(app)
    )
    return jsonify(body), code


@bp.get("/system")
@require(*READ)
def system() -> Response:
    """What the console's System tab shows: processors, per-stream counters, dead letters, lake, sockets."""
    app = current_app
    st, now_ms = store(), time.time() * 1000
    acc = pipeline_health.pipeline_accounting(st, pipeline_health.in_process(app), now_ms)
    view = pipeline_health.system(st, now_ms, acc, pipeline_health.lake_probe(app), pipeline_health.ws_clients(app))
    return jsonify(view)


@bp.get("/vehicles/locations")
@require(*READ)
def vehicle_locations() -> Response:
    bbox = None
    if "bbox" in request.args:
        try:
            bbox = BBox.parse(request.args["bbox"])
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
    limit = _int_arg("limit", 1000, 1, 20_000)
    vehicles = store().vehicle_locations(bbox, request.args.get("type"), limit)
    # orjson: thousands of small dicts per response, several times faster than the stdlib
    return Response(orjson.dumps({"count": len(vehicles), "vehicles": vehicles}), mimetype="application/json")


@bp.get("/find")
@require(*READ)
def find() -> Response:
    query = request.args.get("q", "")
    if not query.strip() or len(query) > 64:
        raise ApiError(400, "q must be 1 to 64 characters: a vehicle id, a licence plate or a road name")
    vehicles = store().find_vehicles(query, _int_arg("limit", 10, 1, 100))
    return jsonify(count=len(vehicles), vehicles=vehicles)


@bp.get("/vehicles/<id:vehicle_id>")
@require(*READ)
def vehicle(vehicle_id: str) -> Response:
    state = store().vehicle(vehicle_id)
    if state is None:
        raise ApiError(404, f"no vehicle {vehicle_id!r} in the speed layer")
    return jsonify(state)


@bp.get("/emergency/incidents")
@require(*READ)
def incidents() -> Response:
    status = request.args.get("status", "active")
    if status not in ("active", "resolved", "all"):
        raise ApiError(400, "status must be active, resolved or all")
    rows = store().incidents(status, _int_arg("limit", 200, 1, 5000))
    return jsonify(count=len(rows), incidents=rows)


@bp.get("/traffic/conditions")
@require(*READ)
def traffic() -> Response:
    rows = store().traffic()
    return jsonify(count=len(rows), segments=rows)


@bp.get("/weather/current")
@require(*READ)
def weather() -> Response:
    rows = store().weather()
    return jsonify(count=len(rows), stations=rows)


@bp.get("/analytics/summary")
@require(*READ)
def summary() -> Response:
    return jsonify(store().summary())


@bp.get("/live")
@require(*READ)
def live() -> Response:
    """The push hub's latest snapshot: the same message ``/ws/realtime`` sends first, for clients
    whose socket is down (one shape, built in one place)."""
    frames = current_app.extensions["smartcity.hub"].snapshot_frames()
    return Response(frames.json(), mimetype="application/json")


from app.api import history, rules, webhooks, writes  # noqa: E402,F401 - register their routes on bp
