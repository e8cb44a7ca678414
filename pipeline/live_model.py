"""The live read model: what the console and the API show of the city's current state.

Declared once, here, beside the speed layer. The speed-layer script receives it in its config
argument (``SpeedLayerConfig.as_lua``), the browser from the one config object the console's
page carries (``browser_config``, emitted by the console as ``<script id="smartcity-live-model"
type="application/json">``), and Python imports it. Nothing else declares congestion levels,
row columns, the numeric fields or the time windows (a test fails on a second copy).

All windows are in event time: "a vehicle unseen for ``active_s``" compares event timestamps,
never the wall clock of whoever is looking.
"""

from __future__ import annotations

from typing import Any

from pipeline.schemas import CONGESTION_LEVELS, SCHEMAS, SEVERITIES, VEHICLE_TYPES

# kind names on the wire (push messages, the poll) -> kind in the speed layer's keys
KINDS: dict[str, str] = {"vehicles": "v", "traffic": "t", "weather": "w", "incidents": "i"}

# One wire shape per entity. Vehicles travel as rows with these columns (5,000 moving vehicles
# a second are most of the bytes; rows halve them); the others as objects of their speed-layer
# fields, typed by ``NUMERIC``.
VEHICLE_ROW: tuple[str, ...] = ("id", "ts", "lat", "lon", "speed", "heading", "vehicle_type", "status", "road_name")
# Row columns the map needs no finer than this (values rounded to 1/scale): coordinates to 1e-6
# degrees (~0.1 m), speeds to 0.1 km/h, headings to the degree. It halves the bytes.
ROW_SCALE: dict[str, float] = {"lat": 1e6, "lon": 1e6, "speed": 10.0, "heading": 1.0}

# Congestion levels, least congested first (``pipeline.schemas`` validates them); a segment at
# ``CONGESTED_FROM`` or above counts as congested.
LEVELS: tuple[str, ...] = CONGESTION_LEVELS
CONGESTED_FROM = "heavy"

# Fields that are numbers on the wire: every numeric schema field, and what the speed layer adds.
_DERIVED_NUMERIC = ("ts", "lat", "lon", "first_seen", "resolved_at", "clock_skew_s")
_DERIVED_INTEGER = ("ts", "first_seen", "resolved_at")
NUMERIC: frozenset[str] = frozenset(
    [f.name for fields in SCHEMAS.values() for f in fields if f.kind in ("float", "int")] + list(_DERIVED_NUMERIC)
)
INTEGER: frozenset[str] = frozenset(
    [f.name for fields in SCHEMAS.values() for f in fields if f.kind == "int"] + list(_DERIVED_INTEGER)
)

# Freshness of what the console shows, by the age of the newest data (event time against the
# server's clock): amber past ``STALE_AMBER_S``, red past ``STALE_RED_S``. The push hub sends a
# message at least every ``HEARTBEAT_S`` even when nothing changed, so a silent socket is a
# broken one, not a quiet city.
STALE_AMBER_S = 10.0
STALE_RED_S = 30.0
HEARTBEAT_S = 5.0


def level_rank(level: str | None) -> int:
    """0 for the least congested level; levels unknown sort after all known ones."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def lua_config() -> dict[str, Any]:
    """The part of the model the speed-layer scripts need, merged into their config argument."""
    return {"types": list(VEHICLE_TYPES), "levels": list(LEVELS), "vehicle_row": list(VEHICLE_ROW)}


def rows_config() -> dict[str, Any]:
    """What ``vehicle_rows.lua`` needs to build map rows: the columns, which of them are numbers
    and how finely each is kept (0: as stored)."""
    return {
        "columns": list(VEHICLE_ROW),
        "numeric": {c: ROW_SCALE.get(c, 0) for c in VEHICLE_ROW if c in NUMERIC},
        "required": ["ts", "lat"],  # a map row has a time and a place
    }


# A vehicle's status in words (assets/smartcity_status.js decides it for the map, its tooltip
# and the vehicle panel): offline when silent for ``offline_after_s`` (at most half the active
# window, so an offline vehicle is on the map, grey in its cluster's ring, before it leaves at the
# window's end); else parked when its device says so
# (the simulator's ``parked``) or it has stood still (under ``still_kmh``) for ``parked_after_s``;
# else moving. Statuses that are neither motion nor standing (an emergency unit's duty:
# ``patrolling``, ``responding``, ``on_scene``) are added in brackets.
VEHICLE_STATES: dict[str, Any] = {
    "parked_statuses": ("parked",),
    "motion_statuses": ("driving", "stopped", "at_stop", "parked"),  # the simulator's (producers/reports.py)
    "still_kmh": 0.5,
    "parked_after_s": 180.0,
    "offline_after_s": 60.0,
}

# The Traffic tab's "worst segments": this many, slowest against their speed limit (this one where
# a sensor sends none). Ranked in the browser, from the live city.
WORST_SEGMENTS = {"count": 10, "default_limit_kmh": 50.0}


def browser_config(active_s: float, sensor_s: float) -> dict[str, Any]:
    """The model as the browser takes it (one JSON object in the page)."""
    return {
        "kinds": KINDS,
        "vehicle_fields": list(VEHICLE_ROW),
        "levels": list(LEVELS),
        "congested_from": CONGESTED_FROM,
        "severities": list(SEVERITIES),
        "vehicle_types": list(VEHICLE_TYPES),
        "numeric": sorted(NUMERIC),
        "active_ms": int(active_s * 1000),
        "sensor_ms": int(sensor_s * 1000),
        "stale_ms": {"amber": int(STALE_AMBER_S * 1000), "red": int(STALE_RED_S * 1000)},
        "heartbeat_ms": int(HEARTBEAT_S * 1000),
        "worst_segments": WORST_SEGMENTS,
        "vehicle_states": {
            "parked_statuses": list(VEHICLE_STATES["parked_statuses"]),
            "motion_statuses": list(VEHICLE_STATES["motion_statuses"]),
            "still_kmh": VEHICLE_STATES["still_kmh"],
            "parked_after_ms": int(VEHICLE_STATES["parked_after_s"] * 1000),
            "offline_after_ms": int(min(VEHICLE_STATES["offline_after_s"], active_s / 2) * 1000),
        },
    }
