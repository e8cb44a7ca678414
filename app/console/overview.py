"""Overview tab: KPI cards and small trends.

The cards are drawn in the browser from the live message (``assets/smartcity.js``: their values
have ids ``overview-card-<key>``). The trends are kept per server process (``Trend``): the push
hub records each summary it builds, so the Overview shows the last minutes at once, also right
after a page load; the tab redraws them every few seconds while it is shown.
"""

from __future__ import annotations

import threading
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html
from dash.development.base_component import Component
from flask import Flask, current_app

from app.console import chart, ids
from app.console.callbacks import callback
from app.console.shown import EveryWhileShown

HISTORY_POINTS = 120
TRENDS = (
    (ids.OVERVIEW_TREND_VEHICLES, "vehicles", "Active vehicles"),
    (ids.OVERVIEW_TREND_SPEED, "avg_speed", "Average speed (km/h)"),
    (ids.OVERVIEW_TREND_CONGESTION, "congested", "Congested segments"),
    (ids.OVERVIEW_TREND_EVENTS, "events_per_s", "Events / s"),
)
SEVERITY_ORDER = ("critical", "high", "medium", "low")
# the cards (key, title); the browser fills overview-card-<key> and overview-card-<key>-detail
CARDS = (
    ("vehicles", "Active vehicles"),
    ("speed", "Average speed"),
    ("congestion", "Congested segments"),
    ("incidents", "Active incidents"),
    ("weather", "Weather"),
    ("events", "Events / s"),
)
REFRESH_MS = 5000  # the trends gain a point a second; redrawing them each second would gain little
REFRESH = EveryWhileShown(ids.TAB_OVERVIEW, ids.OVERVIEW_RECENT, ids.OVERVIEW_RECENT_CLOCK, REFRESH_MS)


def _card(key: str, title: str) -> Component:
    """One KPI card; its value and detail are written in the browser."""
    return dbc.Col(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div([title, html.Span(className="stale-note")], className="small text-body-secondary"),
                    html.Div("–", id=f"overview-card-{key}", className="fs-3 fw-semibold kpi-value"),
                    html.Div("", id=f"overview-card-{key}-detail", className="small text-body-secondary"),
                ]
            ),
            className="h-100",
        ),
        xs=6,
        md=4,
        xl=2,
    )


def kpi_cards() -> list[Component]:
    """The KPI row, empty until the live client draws it."""
    return [_card(key, title) for key, title in CARDS]


def _short(stream: str) -> str:
    return stream.removesuffix("_data")


def append_point(
    history: dict[str, Any] | None, summary: dict[str, Any], limit: int = HISTORY_POINTS
) -> dict[str, Any]:
    """``history`` with one more point from ``summary``, keeping the last ``limit`` points."""
    h: dict[str, list[Any]] = {k: list(v) for k, v in (history or {}).items()}
    rates = summary.get("events_per_s")  # per stream, as the processors publish them
    point = {
        "t": summary.get("now_ms"),
        "vehicles": summary.get("active_vehicles"),
        "avg_speed": summary.get("avg_speed"),
        "congested": summary.get("congested_segments"),
        "events_per_s": round(sum(rates.values()), 1) if rates else None,
        "rates": dict(rates) if rates else None,
    }
    for key, value in point.items():
        h[key] = ([*h.get(key, []), value])[-limit:]
    return h


def trend_figure(history: dict[str, Any] | None, key: str, title: str) -> dict[str, Any]:
    """A small line chart of one series (x = wall-clock time); events/s: one line per stream."""
    h = history or {}
    x = h.get("t", [])
    if key == "events_per_s":
        points = h.get("rates", [])
        streams = sorted({name for p in points if p for name in p})
        data = [
            {"type": "scatter", "mode": "lines", "x": x, "y": [(p or {}).get(s) for p in points], "name": _short(s)}
            for s in streams
        ]
        legend = {"orientation": "h", "x": 1, "xanchor": "right", "y": 1, "yanchor": "bottom", "font": {"size": 10}}
    else:
        data = [{"type": "scatter", "mode": "lines", "x": x, "y": h.get(key, []), "name": title}]
        legend = None
    layout = chart.layout(
        title, 180, xaxis={"type": "date", "tickformat": "%H:%M:%S", "nticks": 4}, yaxis={"rangemode": "tozero"}
    )
    if legend is not None:
        layout["legend"] = legend
    return {"data": data, "layout": layout}


def layout() -> Component:
    graphs = [
        dbc.Col(
            dcc.Graph(id=gid, config={"displayModeBar": False}, figure=trend_figure(None, key, title)),
            md=6,
            xl=3,
        )
        for gid, key, title in TRENDS
    ]
    return html.Div(
        [
            dbc.Row(kpi_cards(), id=ids.OVERVIEW_CARDS, className="g-2 mb-2 live-figure"),
            dbc.Row(graphs, className="g-2"),
            *REFRESH.components(),  # the trends' clock, ticking while the tab is shown
        ]
    )


class Trend:
    """The last ``HISTORY_POINTS`` console summaries, one a second (later ones that second are
    dropped)."""

    def __init__(self) -> None:
        self._history: dict[str, Any] | None = None
        self._second: int | None = None
        self._lock = threading.Lock()

    def record(self, summary: dict[str, Any]) -> None:
        now = summary.get("now_ms")
        if now is None:
            return
        with self._lock:
            if int(now // 1000) == self._second:
                return
            self._second = int(now // 1000)
            self._history = append_point(self._history, summary)

    def history(self) -> dict[str, Any] | None:
        return self._history


def trend(app: Flask | None = None) -> Trend:
    """This app's trend (one per app, created on first use)."""
    extensions = (app or current_app).extensions
    found: Trend = extensions.setdefault("smartcity.trend", Trend())
    return found


@callback(
    *[Output(gid, "figure") for gid, _, _ in TRENDS],
    Input(ids.OVERVIEW_RECENT, "data"),
)
def _render(_: dict[str, Any] | None) -> list[Any]:
    history = trend().history()
    return [trend_figure(history, key, title) for _, key, title in TRENDS]
