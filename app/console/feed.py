"""What the server adds to the console's live message: the summary the push hub sends (and
``GET /api/live`` serves), and the System tab's pipeline status.

The live city itself reaches the browser only as the hub's message (``/ws/realtime``, or
``GET /api/live`` while the socket is down); ``assets/smartcity_live.js`` applies it and the
tabs draw from it there. No Dash callback carries live data.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from app import health
from app.api import store
from app.console import overview
from app.store import Store

VEHICLE_LIMIT = 5000


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
    incidents by severity, worst air quality, mean temperature, events received): the summary
    of the push hub's message. The average speed is of ``vehicles`` when
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
