"""System tab: pipeline health — per-stream counters, latency, speed-layer status, data age."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html
from dash.development.base_component import Component

from app.console import ids
from app.console.shown import when_shown

STREAM_COLUMNS = ("received", "valid", "dead_letters", "speed_layer", "lake_rows")
AGE_NAMES = {"last_v": "vehicles", "last_t": "traffic", "last_w": "weather", "last_i": "incidents"}


def rates(system: dict[str, Any] | None, previous: dict[str, Any] | None) -> dict[str, float]:
    """Events/s received per stream between two feed ticks (empty on the first)."""
    acc, old = (system or {}).get("accounting"), (previous or {}).get("accounting")
    if not acc or not old or not system or not previous:
        return {}
    dt = (system["now_ms"] - previous["now_ms"]) / 1000
    if dt <= 0:
        return {}
    return {
        name: round((c["received"] - old["streams"].get(name, {}).get("received", 0)) / dt, 1)
        for name, c in acc.get("streams", {}).items()
    }


def stream_table(accounting: dict[str, Any] | None, per_second: dict[str, float] | None = None) -> Component:
    """Per-stream counters (and rates) from the processor's accounting snapshot."""
    if not accounting:
        return dbc.Alert("Pipeline counters: not available in this process.", color="secondary")
    per_second = per_second or {}
    streams: dict[str, dict[str, Any]] = accounting.get("streams", {})
    head = html.Thead(
        html.Tr([html.Th("Stream"), html.Th("events/s"), *[html.Th(c.replace("_", " ")) for c in STREAM_COLUMNS]])
    )
    body = [
        html.Tr(
            [
                html.Td(name),
                html.Td(str(per_second.get(name, "–"))),
                *[html.Td(str(c.get(k, ""))) for k in STREAM_COLUMNS],
            ]
        )
        for name, c in streams.items()
    ]
    totals = accounting.get("totals", {})
    total_rate = round(sum(per_second.values()), 1) if per_second else "–"
    body.append(
        html.Tr(
            [html.Th("total"), html.Th(str(total_rate)), *[html.Th(str(totals.get(k, ""))) for k in STREAM_COLUMNS]]
        )
    )
    latency = accounting.get("latency_ms") or {}
    extra = html.P(
        f"latency p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms · batches {accounting.get('batches')} · "
        f"speed-layer errors {accounting.get('speed_layer_errors')} · lake errors {accounting.get('lake_errors')}"
        + (f" · last error: {accounting['last_error']}" if accounting.get("last_error") else ""),
        className="small text-body-secondary",
    )
    return html.Div([dbc.Table([head, html.Tbody(body)], size="sm", responsive=True), extra])


def status_list(system: dict[str, Any] | None, summary: dict[str, Any] | None) -> Component:
    """Speed-layer reachability and the age of the newest event of each kind."""
    sysd = system or {}
    now = (summary or {}).get("now_ms") or sysd.get("now_ms")
    items = [
        html.Li(f"Speed layer: {'reachable' if sysd.get('store_ok') else 'unreachable'}"),
    ]
    for key, ts in ((summary or {}).get("last_event_ms") or {}).items():
        if now is not None and ts:
            items.append(html.Li(f"Newest {AGE_NAMES.get(key, key)} event: {(now - ts) / 1000:.1f} s ago"))
    return html.Ul(items, className="mb-2")


def layout() -> Component:
    return dbc.Row(
        [
            dbc.Col([html.H6("Status"), html.Div(id=ids.SYSTEM_STATUS)], lg=4, xs=12),
            dbc.Col([html.H6("Streams"), html.Div(id=ids.SYSTEM_STREAMS)], lg=8, xs=12),
            dcc.Store(id=ids.SYSTEM_PREVIOUS),
        ],
        className="g-2",
    )


@callback(
    Output(ids.SYSTEM_STATUS, "children"),
    Output(ids.SYSTEM_STREAMS, "children"),
    Output(ids.SYSTEM_PREVIOUS, "data"),
    Input(ids.SYSTEM_VIEW, "data"),
    State(ids.FEED_SUMMARY, "data"),
    State(ids.SYSTEM_PREVIOUS, "data"),
    prevent_initial_call=True,
)
def _render(
    system: dict[str, Any] | None, summary: dict[str, Any] | None, previous: dict[str, Any] | None
) -> tuple[Component, Component, dict[str, Any] | None]:
    per_second = rates(system, previous)
    return status_list(system, summary), stream_table((system or {}).get("accounting"), per_second), system


when_shown(ids.TAB_SYSTEM, ids.FEED_SYSTEM, ids.SYSTEM_VIEW)
