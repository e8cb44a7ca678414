"""The per-second data the console shows: one snapshot, split into the ``feed-*`` stores.

A ``dcc.Interval`` (``shell-clock``) polls :func:`snapshot` through ``shell-tick``, which
lets a tick through only when the previous poll has answered (a slow server never gets a
pile of requests). While the WebSocket client in ``assets/smartcity.js`` is connected it
sets ``shell-push``, moves the vehicle markers in place itself and fills the incident,
traffic, weather and summary stores from the pushed deltas (only when something shown needs
them); the poll then runs only on the tabs showing what push does not carry (System each
second, Emergency every 5 s) and brings only that. When the socket is
down polling is the fallback for everything, once a second.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from dash import Input, Output, State, callback, no_update
from flask import Flask, current_app

from app import health
from app.api import store
from app.console import ids, overview
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
    """The pipeline's accounting: this process's processor and those publishing to the speed
    layer (``health.pipeline_accounting``), with the processors listed; None when none is known."""
    return health.pipeline_accounting(store(), health.in_process(current_app), time.time() * 1000)


def console_summary(
    st: Store,
    now_ms: float | None = None,
    acc: dict[str, Any] | None = None,
    vehicles: list[dict[str, Any]] | None = None,
    incidents: list[dict[str, Any]] | None = None,
    weather: list[dict[str, Any]] | None = None,
    average_speed: Callable[[], float | None] | None = None,
) -> dict[str, Any]:
    """The speed layer's summary with what the console derives from it (average speed, active
    incidents by severity, worst air quality, mean temperature, events received): what the
    poll and the push hub both send as the summary. The average speed is of ``vehicles`` when
    given, else ``average_speed()`` (the push hub's), else the store's."""
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    incidents = st.incidents("active", 500) if incidents is None else incidents
    weather = st.weather() if weather is None else weather
    summary = dict(st.summary())
    summary["now_ms"] = now_ms
    if vehicles is None:  # no vehicle list needed, only their speeds
        summary["avg_speed"] = average_speed() if average_speed is not None else st.average_speed(VEHICLE_LIMIT)
    else:
        speeds = [float(v["speed"]) for v in vehicles if "speed" in v]
        summary["avg_speed"] = round(sum(speeds) / len(speeds), 1) if speeds else None
    summary["incidents_by_severity"] = dict(Counter(i.get("severity", "unknown") for i in incidents))
    aqi = [float(w["airQualityIndex"]) for w in weather if "airQualityIndex" in w]
    temps = [float(w["temperature"]) for w in weather if "temperature" in w]
    summary["max_aqi"] = max(aqi) if aqi else None
    summary["avg_temperature"] = round(sum(temps) / len(temps), 1) if temps else None
    summary["events_received"] = ((acc or {}).get("totals") or {}).get("received")
    summary["events_per_s"] = (acc or {}).get("rates_per_s")  # per stream, from the processors
    return summary


def pushed_summary(app: Flask) -> Callable[[], dict[str, Any]]:
    """The summary the push hub sends (outside any request): the console summary, recorded
    in the Overview's trend."""
    st: Store = app.extensions["smartcity.store"]
    fleet = app.extensions["smartcity.hub"].fleet  # the speeds of the vehicles it pushed
    trend = overview.trend(app)

    def build() -> dict[str, Any]:
        now_ms = time.time() * 1000
        acc = health.pipeline_accounting(st, health.in_process(app), now_ms)
        speed = fleet.average if fleet.updated else None  # before its first snapshot: the store's
        summary = console_summary(st, now_ms, acc, average_speed=speed)
        trend.record(summary)
        return summary

    return build


def system_status(st: Store, now_ms: float, acc: dict[str, Any] | None) -> dict[str, Any]:
    """The System tab's data (``health.system``); the socket count is this server process's."""
    return health.system(st, now_ms, acc, health.lake_probe(current_app), health.ws_clients(current_app))


def snapshot(st: Store, now_ms: float | None = None, acc: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the tabs need for one tick, keyed by feed store id: what the poll sends
    while it is the only feed."""
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    vehicles = st.vehicle_locations(limit=VEHICLE_LIMIT)
    incidents = st.incidents("active", 500)
    weather = st.weather()
    return {
        ids.FEED_SUMMARY: console_summary(st, now_ms, acc, vehicles, incidents, weather),
        ids.FEED_VEHICLES: vehicles_geojson(vehicles),
        ids.FEED_INCIDENTS: incidents,
        ids.FEED_TRAFFIC: st.traffic(),
        ids.FEED_WEATHER: weather,
        ids.FEED_SYSTEM: system_status(st, now_ms, acc),
    }


# While push is live it brings the vehicles, incidents, traffic, weather and summary each
# second; the poll then reads only what push does not carry, for the tab shown
# (assets/smartcity.js stops the poll on the other tabs): store -> (tabs, its read).
POLLED_WHILE_PUSHED: dict[str, tuple[tuple[str, ...], Callable[[Store, float, dict[str, Any] | None], Any]]] = {
    ids.FEED_SYSTEM: ((ids.TAB_SYSTEM,), system_status),
    ids.FEED_INCIDENTS: ((ids.TAB_EMERGENCY,), lambda st, _now, _acc: st.incidents("active", 500)),  # ages move on
}


def polled_tabs() -> list[str]:
    """The tabs polled while push is live (the page reads this list)."""
    return sorted({tab for tabs, _ in POLLED_WHILE_PUSHED.values() for tab in tabs})


@callback(
    [Output(i, "data") for i in FEED_OUTPUTS],
    Input(ids.SHELL_TICK, "data"),
    State(ids.SHELL_PUSH, "data"),
    State(ids.SHELL_TABS, "active_tab"),
    prevent_initial_call=True,
)
def _poll(_n: int | None, push: str | None, tab: str | None) -> list[Any]:
    st, acc = store(), accounting()
    if push != "live":  # the only feed: everything
        data = snapshot(st, acc=acc)
        overview.trend().record(data[ids.FEED_SUMMARY])
        return [data[i] for i in FEED_OUTPUTS]
    now_ms = time.time() * 1000
    wanted = {i: read for i, (tabs, read) in POLLED_WHILE_PUSHED.items() if tab in tabs}
    return [wanted[i](st, now_ms, acc) if i in wanted else no_update for i in FEED_OUTPUTS]
