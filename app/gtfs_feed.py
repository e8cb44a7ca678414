"""GTFS-Realtime out: the city's buses as a VehiclePositions ``FeedMessage``.

What a trip planner (OpenTripPlanner, a journey app) reads: one entity per active bus with its
position, bearing, speed in m/s and the time of that report, in a full dataset (each feed
replaces the previous one). Read from the speed layer through the ``Store``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2

from app.store import Store

GTFS_RT_VERSION = "2.0"
FEED_TYPES = ("bus",)  # the vehicle types a transit feed carries (our types have no tram or train)
MAX_VEHICLES = 100_000


def vehicle_positions(vehicles: Iterable[dict[str, Any]], now_s: float) -> gtfs_realtime_pb2.FeedMessage:
    """A full-dataset feed of ``vehicles`` (``Store.vehicle_locations`` rows: km/h, ms), made at ``now_s``."""
    feed = gtfs_realtime_pb2.FeedMessage()
    header = feed.header
    header.gtfs_realtime_version = GTFS_RT_VERSION
    header.incrementality = gtfs_realtime_pb2.FeedHeader.FULL_DATASET
    header.timestamp = int(now_s)
    add = feed.entity.add
    for v in vehicles:
        entity = add()
        vehicle_id = _utf8(v["id"])
        entity.id = vehicle_id
        report = entity.vehicle
        report.vehicle.id = vehicle_id
        report.timestamp = int(v["ts"]) // 1000
        position = report.position
        position.latitude = v["lat"]
        position.longitude = v["lon"]
        if (heading := v.get("heading")) is not None:
            position.bearing = heading
        if (speed := v.get("speed")) is not None:
            position.speed = speed / 3.6  # GTFS-RT speeds are m/s; ours km/h
    return feed


def _utf8(text: str) -> str:
    # protobuf strings must be UTF-8: an id holding a lone surrogate (read lossily) would not serialise
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def city_feed(store: Store, now_s: float) -> gtfs_realtime_pb2.FeedMessage:
    """The feed of the city's active transit vehicles, most recently seen first."""
    vehicles: list[dict[str, Any]] = []
    for vehicle_type in FEED_TYPES:
        vehicles += store.vehicle_locations(vehicle_type=vehicle_type, limit=MAX_VEHICLES)
    return vehicle_positions(vehicles, now_s)


def as_json(feed: gtfs_realtime_pb2.FeedMessage) -> dict[str, Any]:
    """The feed in protobuf's canonical JSON with the specification's field names (64-bit
    integers, the timestamps, as strings), which ``json_format.ParseDict`` reads back."""
    out: dict[str, Any] = json_format.MessageToDict(feed, preserving_proto_field_name=True)
    out.setdefault("entity", [])  # an empty city is an empty list, not a missing key
    return out
