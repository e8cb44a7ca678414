"""``GET /gtfs-rt/vehicle-positions``: the city's buses as GTFS-Realtime, for trip planners."""

from __future__ import annotations

import time

import orjson
from flask import Blueprint, Response, request

from app import gtfs_feed
from app.api import store
from app.api.errors import ApiError
from app.auth import READ, require

bp = Blueprint("gtfs_rt", __name__, url_prefix="/gtfs-rt")
PROTOBUF = "application/x-protobuf"
FORMATS = ("protobuf", "json")


@bp.get("/vehicle-positions")
@require(*READ)
def vehicle_positions() -> Response:
    fmt = request.args.get("format", "protobuf")
    if fmt not in FORMATS:
        raise ApiError(400, f"format must be one of {', '.join(FORMATS)}")
    feed = gtfs_feed.city_feed(store(), time.time())
    if fmt == "json":
        return Response(orjson.dumps(gtfs_feed.as_json(feed)), mimetype="application/json")
    return Response(feed.SerializeToString(), mimetype=PROTOBUF)
