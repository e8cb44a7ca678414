"""Traffic tab: every sensor's segment in a sortable, filterable grid and the worst segments
now (both drawn in the browser from the live message), and congestion over the last hours (from
the lake, read while the tab is shown)."""

from __future__ import annotations

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
from pipeline.live_model import LEVELS

log = logging.getLogger(__name__)

COLUMNS = (
    ("road_name", "Road"),
    ("segment_id", "Network segment"),  # the road network's own id: hidden until asked for
    ("congestion_level", "Congestion"),
    ("speed", "Speed (km/h)"),
    ("speed_limit", "Limit (km/h)"),
    ("vehicle_count", "Vehicles"),
    ("occupancy", "Occupancy (%)"),
    ("camera_id", "Camera"),
)
# a colour per level of the live model, least congested first (presentation only: the levels and
# their order are the model's)
LEVEL_COLOURS = dict(zip(LEVELS, ("#2ca02c", "#98df8a", "#ffbf00", "#ff7f0e", "#d62728"), strict=True))
BUCKET_S = 60  # sensors report about every 10 s: a minute holds a few reports of each
REFRESH_MS = 30_000  # the lake gets a file about every 10 s; reading it each second would gain nothing
REFRESH = EveryWhileShown(ids.TAB_TRAFFIC, ids.TRAFFIC_RECENT, ids.TRAFFIC_RECENT_CLOCK, REFRESH_MS)
WORST_TITLE = "Worst segments now (speed, km/h)"
CONGESTION_TITLE = "Congestion, last 3 h: sensors per level, mean speed"


def worst_figure() -> dict[str, Any]:
    """The worst segments' chart as the page opens: empty; the browser ranks and draws them from
    the live city (``assets/smartcity.js``, ``WORST_SEGMENTS`` of the live model)."""
    # roads' names cut to chart.ROAD_LABEL_CHARS (meta tells the browser, which labels the bars): on a
    # phone the bars keep most of the width
    roads = {"autorange": "reversed", "title": {"text": "road (sensor)"}, "tickfont": {"size": 10}}
    layout = chart.layout(WORST_TITLE, 320, xaxis={"title": {"text": "speed (km/h)", "standoff": 4}}, yaxis=roads,
                          meta={"road_label_chars": chart.ROAD_LABEL_CHARS})  # fmt: skip
    return {"data": [], "layout": layout}


def congestion_figure(rows: list[dict[str, Any]], span: tuple[datetime, datetime], tz: tzinfo = UTC) -> dict[str, Any]:
    """Sensors per congestion level over time (stacked) and their mean speed (right axis), times in ``tz``."""
    if not rows:
        return chart.empty(CONGESTION_TITLE, "No traffic reports in the lake for the last 3 hours", 320)
    times = chart.times((r["t"] for r in rows), tz)
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": level, "x": times, "y": [r[level] for r in rows],
         "stackgroup": "levels", "line": {"width": 0.5, "color": LEVEL_COLOURS[level]},
         "fillcolor": LEVEL_COLOURS[level]}
        for level in reversed(LEVELS)  # severe at the bottom, where a rise shows first
    ]  # fmt: skip
    traces.append({"type": "scatter", "mode": "lines", "name": "mean km/h", "x": times, "yaxis": "y2",
                   "y": [r["mean_speed"] for r in rows], "line": {"color": "#0d6efd", "width": 2}})  # fmt: skip
    y2 = {"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero", "title": {"text": "km/h"}}
    layout = chart.layout(
        CONGESTION_TITLE, 320, hovermode="x unified", legend={"orientation": "h"}, yaxis2=y2,
        xaxis=chart.recent_axis(span, tz),
        yaxis={"title": {"text": "sensors"}, "rangemode": "tozero"}, margin={"r": 45},
    )  # fmt: skip
    return {"data": traces, "layout": layout}


def recent_figure(now: datetime, tz: tzinfo = UTC) -> dict[str, Any]:
    """The congestion chart of the last hours before ``now``, read from the app's lake, times in ``tz``."""
    span = recent.window(now, BUCKET_S)
    try:
        rows = recent.congestion(*lake(), *span, bucket_s=BUCKET_S)
    except recent.UNREADABLE as exc:
        log.warning("traffic history unreadable: %s", exc)
        return chart.empty(CONGESTION_TITLE, "The lake could not be read just now", 320)
    return congestion_figure(rows, span, tz)


def layout() -> Component:
    columns = [{"field": key, "headerName": name, "hide": key == "segment_id"} for key, name in COLUMNS]
    columns[0] |= {"flex": 2, "minWidth": 170}  # a road's name is the longest text in a row
    table = grid(ids.TRAFFIC_TABLE, columns, "No sensors.")
    return dbc.Row(
        [
            # wide enough at 1440 px for every column, each header whole
            dbc.Col([html.H6(["Sensors now", html.Span(className="stale-note")]), table], lg=8, xs=12),
            dbc.Col(
                [
                    dcc.Graph(id=ids.TRAFFIC_CONGESTION, figure=chart.empty(CONGESTION_TITLE, "Loading…", 320)),
                    dcc.Graph(id=ids.TRAFFIC_WORST, figure=worst_figure(), className="live-figure"),
                    *REFRESH.components(),  # the lake charts' clock, ticking while the tab is shown
                ],
                lg=4,
                xs=12,
            ),
        ],
        className="g-2",
    )


@callback(
    Output(ids.TRAFFIC_CONGESTION, "figure"),
    Input(ids.TRAFFIC_RECENT, "data"),
    Input(chart.UTC_SWITCH, "value"),
    prevent_initial_call=True,
)
def _recent(_: dict[str, Any] | None, utc: bool | None) -> dict[str, Any]:
    return recent_figure(datetime.now(UTC), chart.zone(utc))
