"""Overview tab: KPI cards and small trends.

The cards are drawn in the browser from the live message (``assets/smartcity.js``: their values
have ids ``overview-card-<key>``). The trends show the last 24 hours: hour by hour from the lake
(``lake_history``: the hourly batch views History reads, so a console started a minute ago
still shows the day), then the newest minutes second by second from the summaries this process
pushed (``Trend``). From the lake, "active vehicles" are those that reported in the hour, their
average speed is the km they drove per hour of it, events/s the reports per second of each
stream, and congested segments the sensors whose last report of the hour was congested. The tab
redraws them every few seconds while it is shown; the lake is read at most once a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html
from dash.development.base_component import Component
from flask import Flask, current_app

from app.api import lake
from app.console import chart, ids, recent
from app.console import history as history_tab
from app.console.callbacks import callback
from app.console.shown import EveryWhileShown

log = logging.getLogger(__name__)

HISTORY_POINTS = 120
LAKE_SPAN = timedelta(hours=24)
LAKE_TTL_S = 60.0  # the hourly points change little in a minute; the lake is read at most this often
HOUR = timedelta(hours=1)
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
# each trend's y axis: what it counts, in which unit
Y_TITLES = {"vehicles": "vehicles", "avg_speed": "km/h", "congested": "segments", "events_per_s": "events/s"}
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


def trend_figure(
    history: dict[str, Any] | None,
    key: str,
    title: str,
    tz: tzinfo = UTC,
    span: tuple[datetime, datetime] | None = None,
) -> dict[str, Any]:
    """A small line chart of one series (x = time in ``tz``, named on the axis, over ``span``
    when given); events/s: one line per stream. A None value is a gap (an hour the lake has no
    reports of)."""
    h = history or {}
    x = chart.times(h.get("t", []), tz)
    if key == "events_per_s":
        points = h.get("rates", [])
        streams = sorted({name for p in points if p for name in p})
        data = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "marker": {"size": 3},
                "x": x,
                "y": [(p or {}).get(s) for p in points],
                "name": _short(s),
            }
            for s in streams
        ]
        legend = {"orientation": "h", "x": 1, "xanchor": "right", "y": 1, "yanchor": "bottom", "font": {"size": 10}}
    else:
        data = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "marker": {"size": 3},
                "x": x,
                "y": h.get(key, []),
                "name": title,
            }
        ]
        legend = None
    layout = chart.layout(
        title,
        200,
        xaxis=chart.time_axis(tz, span, tickformat="%H:%M", nticks=5),
        yaxis={"rangemode": "tozero", "title": {"text": Y_TITLES.get(key, key)}},
    )
    if legend is not None:
        layout["legend"] = legend
    return {"data": data, "layout": layout}


def layout() -> Component:
    graphs = [
        dbc.Col(
            dcc.Graph(
                id=gid, config={"displayModeBar": False}, figure=trend_figure(None, key, title, chart.zone(False))
            ),
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


def _hourly(view: str, start: datetime, end: datetime) -> dict[datetime, list[dict[str, Any]]]:
    by_hour: dict[datetime, list[dict[str, Any]]] = {}
    for row in history_tab.hourly_rows(view, start, end):
        by_hour.setdefault(chart.wall(row["hour"], UTC).replace(tzinfo=UTC), []).append(row)
    return by_hour


def lake_history(now: datetime, span: timedelta = LAKE_SPAN) -> dict[str, Any]:
    """The trends' points from the app's lake over the ``span`` before ``now``, one an hour (at
    the middle of the part of the hour it covers), in ``append_point``'s shape."""
    start = now - span
    fleet = _hourly("distance", start, now)
    sensors = _hourly("traffic", start, now)
    stations = _hourly("weather", start, now)
    congested = {
        chart.wall(r["t"], UTC).replace(tzinfo=UTC): r["congested"]
        for r in recent.congestion(*lake(), start, now, bucket_s=3600)
    }
    points: dict[str, list[Any]] = {k: [] for k in ("t", "vehicles", "avg_speed", "congested", "events_per_s", "rates")}
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    for hour in [
        first_hour + i * HOUR for i in range(int((now - first_hour) / HOUR) + 1)
    ]:  # every hour: a gap breaks the line
        first, last = max(hour, start), min(hour + HOUR, now)
        seconds = (last - first).total_seconds()
        if seconds <= 0:
            continue
        vehicles = fleet.get(hour, [])
        km = sum(float(r["distance_km"] or 0.0) for r in vehicles)
        rates = {
            table: round(sum(int(r["reports"]) for r in rows) / seconds, 1)
            for table, rows in (("gps_data", vehicles), ("traffic_data", sensors.get(hour, [])),
                                ("weather_data", stations.get(hour, [])))
            if rows
        }  # fmt: skip
        points["t"].append(first + (last - first) / 2)
        points["vehicles"].append(len(vehicles) if vehicles else None)
        points["avg_speed"].append(round(km / len(vehicles) / (seconds / 3600), 1) if vehicles else None)
        points["congested"].append(congested.get(hour))
        points["events_per_s"].append(round(sum(rates.values()), 1) if rates else None)
        points["rates"].append(rates or None)
    return points


def joined(day: dict[str, Any] | None, live: dict[str, Any] | None) -> dict[str, Any]:
    """The lake's hourly points (``day``) before the first live point, then the live ones."""
    day, live = day or {}, live or {}
    live_times = [chart.wall(t, UTC) for t in live.get("t", []) if t is not None]
    first_live = min(live_times) if live_times else None
    keep = [i for i, t in enumerate(day.get("t", [])) if first_live is None or chart.wall(t, UTC) < first_live]
    keys = {*day, *live}
    return {k: [day[k][i] for i in keep] + list(live.get(k, [])) for k in keys if k in day or k in live}


class LakeTrend:
    """``lake_history`` of the app's lake, read again in the background when older than ``ttl``
    seconds: a day of raw events not yet in the written views can take seconds to aggregate, and
    the Overview's callback should not wait for it (it draws the day at its next redraw)."""

    def __init__(self, ttl: float = LAKE_TTL_S, first_wait_s: float = 2.0) -> None:
        self._ttl = ttl
        self._first_wait_s = first_wait_s  # the first read: worth a short wait, there is nothing else
        self._read_at: float | None = None
        self._points: dict[str, Any] | None = None
        self._reading: threading.Thread | None = None
        self._lock = threading.Lock()

    def refresh(self, app: Flask, now: datetime) -> None:
        """Read the lake's day now (in this thread)."""
        with app.app_context():
            try:
                points: dict[str, Any] | None = lake_history(now)
            except recent.UNREADABLE as exc:  # keep what was read last; try again next minute
                log.warning("overview trends: the lake could not be read: %s", exc)
                points = self._points
        with self._lock:
            self._points, self._read_at = points, time.monotonic()

    def points(self, now: datetime) -> dict[str, Any] | None:
        """The last day read (a read started when it is stale; the very first one waited for briefly)."""
        with self._lock:
            stale = self._read_at is None or time.monotonic() - self._read_at >= self._ttl
            if stale and (self._reading is None or not self._reading.is_alive()):
                app = current_app._get_current_object()  # type: ignore[attr-defined]  # the app, not its proxy
                self._reading = threading.Thread(target=self.refresh, args=(app, now), daemon=True,
                                                 name="overview-lake-trend")  # fmt: skip
                self._reading.start()
            reading, first = self._reading, self._read_at is None
        if first and reading is not None:
            reading.join(self._first_wait_s)
        with self._lock:
            return self._points


def lake_trend(app: Flask | None = None) -> LakeTrend:
    """This app's cached lake trend (one per app, created on first use)."""
    extensions = (app or current_app).extensions
    found: LakeTrend = extensions.setdefault("smartcity.lake_trend", LakeTrend())
    return found


def day_figures(now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    """The trend charts (``TRENDS`` order): the lake's last day joined with the live minutes."""
    history = joined(lake_trend().points(now), trend().history())
    span = (now - LAKE_SPAN, now)
    return [trend_figure(history, key, title, tz, span) for _, key, title in TRENDS]


@callback(
    *[Output(gid, "figure") for gid, _, _ in TRENDS],
    Input(ids.OVERVIEW_RECENT, "data"),
    Input(chart.UTC_SWITCH, "value"),
)
def _render(_: dict[str, Any] | None, utc: bool | None) -> list[Any]:
    return day_figures(datetime.now(UTC), chart.zone(utc))
