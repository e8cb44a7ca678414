"""Weather tab: stations, their readings now and advisories when thresholds are crossed (drawn
in the browser from the live message), and their readings over the last hours (from the lake)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, tzinfo
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html
from dash.development.base_component import Component

from app.api import lake
from app.console import chart, ids, recent
from app.console.callbacks import callback
from app.console.grids import grid
from app.console.shown import EveryWhileShown

log = logging.getLogger(__name__)

HEAVY_RAIN_MM_H = 7.6  # AMS "heavy rain" rate
FOG_VISIBILITY_M = 1000.0  # WMO definition of fog
AQI_UNHEALTHY = 150.0  # US EPA: above 150 is "unhealthy"
STRONG_WIND_KMH = 62.0  # Beaufort 8, gale
# what the browser's advisories compare against (assets/smartcity.js drawWeather)
THRESHOLDS = {"heavy_rain_mm_h": HEAVY_RAIN_MM_H, "fog_visibility_m": FOG_VISIBILITY_M,
              "aqi_unhealthy": AQI_UNHEALTHY, "strong_wind_kmh": STRONG_WIND_KMH}  # fmt: skip
BUCKET_S = 300  # stations report about once a minute
REFRESH_MS = 30_000
REFRESH = EveryWhileShown(ids.TAB_WEATHER, ids.WEATHER_RECENT, ids.WEATHER_RECENT_CLOCK, REFRESH_MS)
# graph id -> (column of recent.weather, title, threshold drawn as a dashed line)
SERIES: dict[str, tuple[str, str, float | None]] = {
    ids.WEATHER_TEMPERATURE: ("temperature", "Temperature, last 3 h (°C, mean)", None),
    ids.WEATHER_PRECIPITATION: ("precipitation", "Precipitation, last 3 h (mm/h, most)", HEAVY_RAIN_MM_H),
    ids.WEATHER_WIND: ("wind_speed", "Wind, last 3 h (km/h, most)", STRONG_WIND_KMH),
    ids.WEATHER_AQI: ("aqi", "Air quality, last 3 h (AQI, mean)", AQI_UNHEALTHY),
}
# each reading's y axis: its unit
UNITS = {"temperature": "°C", "precipitation": "mm/h", "wind_speed": "km/h", "aqi": "AQI"}
COLUMNS = (
    ("id", "Station"),
    ("weather_condition", "Condition"),
    ("temperature", "°C"),
    ("humidity", "Humidity %"),
    ("wind_speed", "Wind km/h"),
    ("precipitation", "Precip. mm/h"),
    ("visibility", "Visibility m"),
    ("airQualityIndex", "AQI"),
)


# the readings charted per station now, one row each (its own axis and unit): key, axis title
READINGS = (
    ("temperature", "temp. (°C)"),
    ("precipitation", "rain (mm/h)"),
    ("wind_speed", "wind (km/h)"),
    ("airQualityIndex", "AQI"),
)


def readings_figure(stations: list[dict[str, Any]]) -> dict[str, Any]:
    """Temperature, precipitation, wind and AQI per station: a row of bars each, on an axis of its
    own titled with its unit (the browser redraws it from the live city, ``meta`` naming the
    reading of each trace)."""
    names = [chart.text(s.get("id")) for s in stations]
    traces, axes = [], {}
    for row, (key, title) in enumerate(READINGS, start=1):
        suffix = "" if row == 1 else str(row)
        traces.append({"type": "bar", "name": title, "meta": key, "xaxis": "x", "yaxis": f"y{suffix}",
                       "x": names, "y": [s.get(key) for s in stations]})  # fmt: skip
        axes[f"yaxis{suffix}"] = {"title": {"text": title, "font": {"size": 11}}, "rangemode": "tozero", "nticks": 4}
    layout = chart.layout(
        "Readings per station now", 440, showlegend=False, xaxis={"title": {"text": "station", "standoff": 4}},
        grid={"rows": len(READINGS), "columns": 1, "pattern": "coupled", "roworder": "top to bottom", "ygap": 0.25},
        **axes,
    )  # fmt: skip
    return {"data": traces, "layout": layout}


def series_figure(
    rows: list[dict[str, Any]],
    key: str,
    title: str,
    span: tuple[datetime, datetime],
    threshold: float | None = None,
    tz: tzinfo = UTC,
) -> dict[str, Any]:
    """One reading (``key`` of ``recent.weather`` rows) over time in ``tz``, a line per station;
    an advisory's threshold as a dashed line."""
    by_station: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get(key) is not None:
            by_station.setdefault(r["station"], []).append(r)
    if not by_station:
        return chart.empty(title, "No weather reports in the lake for the last 3 hours", 240)
    traces = [
        {"type": "scatter", "mode": "lines+markers", "marker": {"size": 4}, "name": chart.text(station),
         "x": chart.times((p["t"] for p in points), tz), "y": [p[key] for p in points]}
        for station, points in sorted(by_station.items())
    ]  # fmt: skip
    extra: dict[str, Any] = {}
    if threshold is not None:
        extra["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
                            "line": {"color": "#dc3545", "width": 1, "dash": "dash"}}]  # fmt: skip
    layout = chart.layout(
        title, 240, showlegend=True, legend={"orientation": "h"}, hovermode="x unified", margin={"b": 20},
        xaxis=chart.recent_axis(span, tz), yaxis={"title": {"text": UNITS.get(key, key)}}, **extra,
    )  # fmt: skip
    return {"data": traces, "layout": layout}


def recent_figures(now: datetime, tz: tzinfo = UTC) -> list[dict[str, Any]]:
    """The four charts of the last hours before ``now`` (``SERIES`` order), from the app's lake,
    times in ``tz``."""
    span = recent.window(now, BUCKET_S, current=True)  # means and maxima: the newest reports count at once
    try:
        rows = recent.weather(*lake(), *span, bucket_s=BUCKET_S)
    except recent.UNREADABLE as exc:
        log.warning("weather history unreadable: %s", exc)
        return [chart.empty(title, "The lake could not be read just now", 240) for _, title, _ in SERIES.values()]
    return [series_figure(rows, key, title, span, threshold, tz) for key, title, threshold in SERIES.values()]


def layout() -> Component:
    charts = [
        dbc.Col(dcc.Graph(id=gid, figure=chart.empty(title, "Loading…", 240), config={"displaylogo": False}), md=6)
        for gid, (_, title, _) in SERIES.items()
    ]
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.H6(["Advisories", html.Span(className="stale-note")]),
                            html.Div(
                                id=ids.WEATHER_ADVISORIES,
                                className="live-figure",
                                **{"data-thresholds": json.dumps(THRESHOLDS)},  # type: ignore[arg-type]  # a data-* attribute
                            ),
                        ],
                        lg=4,
                        xs=12,
                    ),
                    dbc.Col(
                        [
                            dcc.Graph(id=ids.WEATHER_CHART, figure=readings_figure([]), className="live-figure"),
                            html.H6(["Stations now", html.Span(className="stale-note")]),
                            grid(
                                ids.WEATHER_TABLE,
                                [{"field": key, "headerName": name} for key, name in COLUMNS],
                                "No stations.",
                            ),
                        ],
                        lg=8,
                        xs=12,
                    ),
                ],
                className="g-2",
            ),
            dbc.Row(charts, className="g-2"),
            *REFRESH.components(),  # the lake charts' clock, ticking while the tab is shown
        ]
    )


@callback(
    *[Output(gid, "figure") for gid in SERIES],
    Input(ids.WEATHER_RECENT, "data"),
    Input(chart.UTC_SWITCH, "value"),
    prevent_initial_call=True,
)
def _recent(_: dict[str, Any] | None, utc: bool | None) -> list[dict[str, Any]]:
    return recent_figures(datetime.now(UTC), chart.zone(utc))
