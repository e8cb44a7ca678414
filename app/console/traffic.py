"""Traffic tab: every sensor's segment in a sortable, filterable table, and the worst segments now."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc
from dash.dash_table.DataTable import DataTable
from dash.development.base_component import Component

from app.console import chart, ids
from app.console.shown import when_shown

COLUMNS = (
    ("road_name", "Road"),
    ("segment_id", "Segment"),
    ("congestion_level", "Congestion"),
    ("speed", "Speed (km/h)"),
    ("speed_limit", "Limit (km/h)"),
    ("vehicle_count", "Vehicles"),
    ("occupancy", "Occupancy"),
    ("camera_id", "Camera"),
)
WORST = 10


def table_rows(traffic: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows: only the shown columns, numbers rounded."""
    rows = []
    for seg in traffic:
        row = {key: seg.get(key) for key, _ in COLUMNS}
        for key in ("speed", "speed_limit", "occupancy"):
            value = row[key]
            if isinstance(value, float):
                row[key] = round(value, 2 if key == "occupancy" else 1)
        rows.append(row)
    return rows


def worst_segments(traffic: list[dict[str, Any]], n: int = WORST) -> list[dict[str, Any]]:
    """The ``n`` segments flowing slowest relative to their speed limit."""

    def ratio(seg: dict[str, Any]) -> float:
        limit = seg.get("speed_limit") or 50.0
        return float(seg.get("speed", limit)) / float(limit)

    return sorted((s for s in traffic if "speed" in s), key=ratio)[:n]


def worst_figure(traffic: list[dict[str, Any]]) -> dict[str, Any]:
    worst = worst_segments(traffic)
    labels = [chart.text(f"{s.get('road_name') or s.get('segment_id') or s.get('id')} ({s.get('id')})") for s in worst]
    return {
        "data": [{"type": "bar", "orientation": "h", "x": [s.get("speed") for s in worst], "y": labels}],
        "layout": chart.layout(
            "Worst segments now (speed, km/h)", 320, margin={"l": 220}, yaxis={"autorange": "reversed"}
        ),
    }


def layout() -> Component:
    table = DataTable(
        id=ids.TRAFFIC_TABLE,
        columns=[{"id": key, "name": name} for key, name in COLUMNS],
        data=[],
        sort_action="native",
        filter_action="native",
        page_size=20,
        style_table={"overflowX": "auto"},
        style_cell={"fontSize": "0.85rem", "padding": "4px", "textAlign": "left"},
        css=[{"selector": ".dash-spreadsheet-container", "rule": "color: #212529"}],
    )
    return dbc.Row(
        [
            dbc.Col(table, lg=7, xs=12),
            dbc.Col(dcc.Graph(id=ids.TRAFFIC_WORST, figure=worst_figure([])), lg=5, xs=12),
        ],
        className="g-2",
    )


@callback(
    Output(ids.TRAFFIC_TABLE, "data"),
    Output(ids.TRAFFIC_WORST, "figure"),
    Input(ids.TRAFFIC_VIEW, "data"),
)
def _render(traffic: list[dict[str, Any]] | None) -> Any:
    return table_rows(traffic or []), worst_figure(traffic or [])


when_shown(ids.TAB_TRAFFIC, ids.FEED_TRAFFIC, ids.TRAFFIC_VIEW)
