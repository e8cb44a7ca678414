"""Zones and alert rules, for admins: draw a zone on the map (click a corner at a time), name
and save it; a rule (a vehicle enters or leaves a zone, speeds in it, congestion on a segment,
poor air at a station) raises alerts into the inbox.

Everything goes through the REST API (``/api/zones``, ``/api/rules``) from
``assets/smartcity_zones.js``; the zones are drawn by the map's layer owner
(``assets/smartcity_map.js``), for every role."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.development.base_component import Component

from app.console import ids
from app.console.callbacks import clientside_callback
from pipeline.live_model import LEVELS
from pipeline.schemas import SEVERITIES, VEHICLE_TYPES

# (value, label, what the threshold means, whether a zone is asked for, whether minutes are)
RULE_KINDS: tuple[tuple[str, str, str, bool, bool], ...] = (
    ("zone_enter", "Vehicle enters a zone", "", True, False),
    ("zone_exit", "Vehicle leaves a zone", "", True, False),
    ("speed_in_zone", "Speed above N km/h in a zone", "km/h", True, False),
    ("congestion", "Congestion at level ≥ L for M minutes", "level", False, True),
    ("aqi", "Air quality index above N at a station", "AQI", False, False),
)
LEVEL_HINT = ", ".join(f"{i} {name}" for i, name in enumerate(LEVELS))
THRESHOLD_HINT = f"km/h · level ({LEVEL_HINT}) · AQI"


def zone_panel() -> Component:
    """The map's zone tools: the zones saved (with Delete) and the drawing of a new one."""
    tools = html.Div(
        [
            dbc.Button("Draw zone", id=ids.ZONE_DRAW, size="sm", color="outline-primary", className="me-1"),
            dbc.Input(id=ids.ZONE_NAME, placeholder="Zone name", size="sm", maxLength=80, style={"maxWidth": "11rem"}),
            dbc.Button("Save", id=ids.ZONE_SAVE, size="sm", color="primary", className="me-1"),
            dbc.Button("Cancel", id=ids.ZONE_CANCEL, size="sm", color="outline-secondary"),
        ],
        className="d-flex align-items-center flex-wrap gap-1 mb-1",
    )
    return html.Div(
        [
            html.H6("Zones"),
            html.Div(id=ids.ZONE_LIST, className="small mb-2"),
            tools,
            html.Div(id=ids.ZONE_FEEDBACK, className="small text-body-secondary"),
            dcc.Store(id=ids.ZONE_PANEL_SINK),
        ],
        id=ids.ZONE_PANEL,
        className="mt-3",
    )


def _select(select_id: str, options: list[dict[str, Any]], value: Any) -> Component:
    return dbc.Select(id=select_id, options=options, value=value, size="sm")


def _field(label: str, control: Component, width: int = 2) -> Component:
    return dbc.Col([dbc.Label(label, className="small mb-0"), control], lg=width, md=4, xs=6)


def rules_section() -> Component:
    """System's Rules: a small form (POST /api/rules) and the rules with Delete."""
    kinds = [{"label": label, "value": value} for value, label, *_ in RULE_KINDS]
    types = [{"label": "any type", "value": ""}, *({"label": t, "value": t} for t in VEHICLE_TYPES)]
    form = dbc.Row(
        [
            _field("Name", dbc.Input(id=ids.RULE_NAME, size="sm", maxLength=80, placeholder="e.g. Trucks in centre")),
            _field("Kind", _select(ids.RULE_KIND, kinds, "zone_enter"), 3),
            _field("Zone", _select(ids.RULE_ZONE, [], None)),
            _field("Vehicle type", _select(ids.RULE_VEHICLE_TYPE, types, "")),
            _field("Threshold", dbc.Input(id=ids.RULE_THRESHOLD, type="number", size="sm", placeholder=THRESHOLD_HINT)),
            _field("Minutes", dbc.Input(id=ids.RULE_MINUTES, type="number", size="sm", min=0), 1),
            _field("Severity", _select(ids.RULE_SEVERITY, [{"label": s, "value": s} for s in SEVERITIES], "high")),
            dbc.Col(dbc.Button("Add rule", id=ids.RULE_ADD, size="sm", color="primary", className="mt-3"), lg=1, xs=6),
        ],
        className="g-2 align-items-end mb-2",
    )
    return html.Div(
        [
            html.H6("Rules", className="mt-3"),
            html.Div("Each match of a rule is an alert in the inbox.", className="small text-body-secondary"),
            form,
            html.Div(id=ids.RULE_FEEDBACK, className="small mb-2"),
            html.Div(id=ids.RULE_LIST, className="small"),
            dcc.Store(id=ids.ZONE_SINK),
        ],
        id=ids.RULE_SECTION,
    )


clientside_callback(
    ClientsideFunction("smartcity_zones", "draw"),
    Output(ids.ZONE_FEEDBACK, "children"),
    Input(ids.ZONE_DRAW, "n_clicks"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("smartcity_zones", "save"),
    Output(ids.ZONE_FEEDBACK, "children", allow_duplicate=True),
    Output(ids.ZONE_NAME, "value"),
    Input(ids.ZONE_SAVE, "n_clicks"),
    State(ids.ZONE_NAME, "value"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("smartcity_zones", "cancel"),
    Output(ids.ZONE_FEEDBACK, "children", allow_duplicate=True),
    Input(ids.ZONE_CANCEL, "n_clicks"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("smartcity_zones", "addRule"),
    Output(ids.RULE_FEEDBACK, "children"),
    Input(ids.RULE_ADD, "n_clicks"),
    State(ids.RULE_NAME, "value"),
    State(ids.RULE_KIND, "value"),
    State(ids.RULE_ZONE, "value"),
    State(ids.RULE_VEHICLE_TYPE, "value"),
    State(ids.RULE_THRESHOLD, "value"),
    State(ids.RULE_MINUTES, "value"),
    State(ids.RULE_SEVERITY, "value"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("smartcity_zones", "rulesShown"),
    Output(ids.ZONE_SINK, "data"),
    Input(ids.RULE_SECTION, "id"),
)
clientside_callback(
    ClientsideFunction("smartcity_zones", "zonesShown"),
    Output(ids.ZONE_PANEL_SINK, "data"),
    Input(ids.ZONE_PANEL, "id"),
)
