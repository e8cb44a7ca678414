"""The per-second data the console shows: one snapshot, split into the ``feed-*`` stores.

A ``dcc.Interval`` (``shell-clock``) polls :func:`snapshot` through ``shell-tick``, which
lets a tick through only when the previous poll has answered (a slow server never gets a
pile of requests). While the WebSocket client in ``assets/smartcity.js`` is connected it
sets ``shell-push`` and moves the vehicle markers in place itself, so the poll stops
sending the vehicle list; when the socket is down polling is the fallback for everything.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from dash import Input, Output, State, callback, no_update
from flask import current_app

from app.api import store
from app.console import ids
from app.store import Store

VEHICLE_LIMIT = 5000
FEED_OUTPUTS = (
    ids.FEED_SUMMARY,
    ids.FEED_VEHICLES,
    ids.FEED_INCIDENTS,
    ids.FEED_TRAFFIC,
    ids.FEED_WEATHER,
    ids.FEED_SYSTEM,
)


def vehicles_geojson(vehicles: list[dict[str, Any]]) -> dict[str, Any]:
    """Vehicle states as a GeoJSON FeatureCollection of Points for the map."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [v["lon"], v["lat"]]},
            "properties": {
                "id": v["id"],
                "type": v.get("vehicle_type", "car"),
                "speed": round(float(v.get("speed", 0.0)), 1),
                "status": v.get("status", ""),
                "road": v.get("road_name", ""),
            },
        }
        for v in vehicles
        if "lat" in v and "lon" in v
    ]
    return {"type": "FeatureCollection", "features": features}


def points_geojson(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, Any]:
    """Rows with ``lat``/``lon`` as GeoJSON Points carrying ``fields`` as properties."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": {k: r[k] for k in fields if k in r},
        }
        for r in rows
        if "lat" in r and "lon" in r
    ]
    return {"type": "FeatureCollection", "features": features}


def accounting() -> dict[str, Any] | None:
    """The processor's accounting snapshot when it runs in this process, else None."""
    source: Callable[[], dict[str, Any]] | None = current_app.extensions.get("smartcity.accounting")
    return source() if source is not None else None


def snapshot(
    st: Store, now_ms: float | None = None, acc: dict[str, Any] | None = None, with_vehicles: bool = True
) -> dict[str, Any]:
    """Everything the tabs need for one tick, keyed by feed store id (the vehicle GeoJSON only
    ``with_vehicles``: while push moves the markers nobody reads it)."""
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    vehicles = st.vehicle_locations(limit=VEHICLE_LIMIT)
    incidents = st.incidents("active", 500)
    traffic = st.traffic()
    weather = st.weather()
    summary = dict(st.summary())
    speeds = [float(v["speed"]) for v in vehicles if "speed" in v]
    summary["now_ms"] = now_ms
    summary["avg_speed"] = round(sum(speeds) / len(speeds), 1) if speeds else None
    summary["incidents_by_severity"] = dict(Counter(i.get("severity", "unknown") for i in incidents))
    aqi = [float(w["airQualityIndex"]) for w in weather if "airQualityIndex" in w]
    temps = [float(w["temperature"]) for w in weather if "temperature" in w]
    summary["max_aqi"] = max(aqi) if aqi else None
    summary["avg_temperature"] = round(sum(temps) / len(temps), 1) if temps else None
    summary["events_received"] = acc["totals"]["received"] if acc else None
    return {
        ids.FEED_SUMMARY: summary,
        ids.FEED_VEHICLES: vehicles_geojson(vehicles) if with_vehicles else None,
        ids.FEED_INCIDENTS: incidents,
        ids.FEED_TRAFFIC: traffic,
        ids.FEED_WEATHER: weather,
        ids.FEED_SYSTEM: {"now_ms": now_ms, "store_ok": st.ping(), "accounting": acc},
    }


def poll(data: dict[str, Any], push_live: bool) -> list[Any]:
    """The feed stores' new values; the vehicles are left alone while push moves them."""
    return [no_update if push_live and i == ids.FEED_VEHICLES else data[i] for i in FEED_OUTPUTS]


@callback(
    [Output(i, "data") for i in FEED_OUTPUTS],
    Input(ids.SHELL_TICK, "data"),
    State(ids.SHELL_PUSH, "data"),
    prevent_initial_call=True,
)
def _poll(_n: int | None, push: str | None) -> list[Any]:
    live = push == "live"
    return poll(snapshot(store(), acc=accounting(), with_vehicles=not live), live)
