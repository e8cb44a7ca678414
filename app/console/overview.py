"""Overview tab: KPI cards and small live trends.

The trends are kept per server process (``Trend``): whoever builds a console summary (the push
hub each second, or a poll) records it, so the Overview shows the last minutes at once, also
right after a page load, and a hidden Overview costs the browser nothing.
"""

from __future__ import annotations

import threading
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html
from dash.development.base_component import Component
from flask import Flask, current_app

from app.console import chart, ids
from app.console.shown import when_shown

HISTORY_POINTS = 120
TRENDS = (
    (ids.OVERVIEW_TREND_VEHICLES, "vehicles", "Active vehicles"),
    (ids.OVERVIEW_TREND_SPEED, "avg_speed", "Average speed (km/h)"),
    (ids.OVERVIEW_TREND_CONGESTION, "congested", "Congested segments"),
    (ids.OVERVIEW_TREND_EVENTS, "events_per_s", "Events / s"),
)
SEVERITY_ORDER = ("critical", "high", "medium", "low")


def _fmt(value: Any, suffix: str = "") -> str:
    return "–" if value is None else f"{value}{suffix}"


def _card(title: str, value: str, detail: str = "") -> Component:
    return dbc.Col(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div(title, className="small text-body-secondary"),
                    html.Div(value, className="fs-3 fw-semibold kpi-value"),
                    html.Div(detail, className="small text-body-secondary"),
                ]
            ),
            className="h-100",
        ),
        xs=6,
        md=4,
        xl=2,
    )


def kpi_cards(summary: dict[str, Any] | None, history: dict[str, Any] | None = None) -> list[Component]:
    """The KPI row for one summary (see ``feed.snapshot``)."""
    s = summary or {}
    by_severity = s.get("incidents_by_severity") or {}
    severity_text = ", ".join(f"{by_severity[k]} {k}" for k in SEVERITY_ORDER if by_severity.get(k))
    per_stream = s.get("events_per_s") or {}
    total = round(sum(per_stream.values()), 1) if per_stream else None
    aqi = s.get("max_aqi")
    return [
        _card("Active vehicles", _fmt(s.get("active_vehicles")), _by_type(s.get("vehicles_by_type") or {})),
        _card("Average speed", _fmt(s.get("avg_speed"), " km/h")),
        _card("Congested segments", _fmt(s.get("congested_segments")), f"of {_fmt(s.get('traffic_sensors'))} sensors"),
        _card("Active incidents", _fmt(s.get("active_incidents")), severity_text),
        _card(
            "Weather",
            _fmt(s.get("avg_temperature"), " °C"),
            f"max AQI {_fmt(aqi)}" + (" — unhealthy" if aqi is not None and aqi > 150 else ""),
        ),
        _card("Events / s", _fmt(total), _by_stream(per_stream) if per_stream else "no processor publishing"),
    ]


def _by_stream(rates: dict[str, float]) -> str:
    return ", ".join(f"{_short(name)} {rate:g}" for name, rate in sorted(rates.items(), key=lambda kv: -kv[1]))


def _short(stream: str) -> str:
    return stream.removesuffix("_data")


def _by_type(counts: dict[str, Any]) -> str:
    return ", ".join(f"{n} {t}" for t, n in sorted(counts.items(), key=lambda kv: -int(kv[1]))[:3])


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
            dbc.Row(kpi_cards(None), id=ids.OVERVIEW_CARDS, className="g-2 mb-2"),
            dbc.Row(graphs, className="g-2"),
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
    Output(ids.OVERVIEW_CARDS, "children"),
    *[Output(gid, "figure") for gid, _, _ in TRENDS],
    Input(ids.OVERVIEW_VIEW, "data"),
)
def _render(summary: dict[str, Any] | None) -> list[Any]:
    history = trend().history()
    return [kpi_cards(summary, history), *[trend_figure(history, key, title) for _, key, title in TRENDS]]


when_shown(ids.TAB_OVERVIEW, ids.FEED_SUMMARY, ids.OVERVIEW_VIEW)
