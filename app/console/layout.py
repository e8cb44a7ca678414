"""The console's shell: navbar (title, data freshness, theme), tabs, feed stores and the clock."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, clientside_callback, dcc, html
from dash.development.base_component import Component

from app.console import emergency, feed, history, ids, overview, system, traffic, weather
from app.console import map as map_tab

POLL_MS = 1000


def _switch(switch_id: str, label: str, extra_class: str = "") -> Component:
    """An off-by-default switch this browser remembers."""
    return dbc.Switch(id=switch_id, label=label, value=False, persistence=True, persistence_type="local",
                      className=f"mb-0 text-body {extra_class}".strip())  # fmt: skip


def navbar() -> Component:
    """Title, the connection/data-freshness badge, the sound and theme switches."""
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Smart City · Operations", className="fw-semibold text-body"),
                html.Div(
                    [
                        dbc.Badge("connecting…", id=ids.SHELL_BADGE, color="secondary", className="me-3"),
                        _switch(ids.SHELL_SOUND, "Sound", "me-3"),
                        _switch(ids.SHELL_THEME, "Dark"),
                    ],
                    className="d-flex align-items-center",
                ),
            ],
            fluid=True,
        ),
        className="border-bottom mb-2 bg-body-tertiary",
    )


def tabs() -> Component:
    return dbc.Tabs(
        [
            dbc.Tab(overview.layout(), label="Overview", tab_id=ids.TAB_OVERVIEW),
            dbc.Tab(map_tab.layout(), label="Map", tab_id=ids.TAB_MAP),
            dbc.Tab(emergency.layout(), label="Emergency", tab_id=ids.TAB_EMERGENCY),
            dbc.Tab(traffic.layout(), label="Traffic", tab_id=ids.TAB_TRAFFIC),
            dbc.Tab(weather.layout(), label="Weather", tab_id=ids.TAB_WEATHER),
            dbc.Tab(history.layout(), label="History", tab_id=ids.TAB_HISTORY),
            dbc.Tab(system.layout(), label="System", tab_id=ids.TAB_SYSTEM),
        ],
        id=ids.SHELL_TABS,
        active_tab=ids.TAB_OVERVIEW,
        className="mb-2",
    )


def build() -> Component:
    """The whole page (built per page load, inside a request, so it can read app config)."""
    stores = [dcc.Store(id=i) for i in feed.FEED_OUTPUTS]
    return html.Div(
        [
            navbar(),
            dbc.Container(
                [emergency.alert_area(), tabs()],
                fluid=True,
            ),
            dcc.Interval(id=ids.SHELL_CLOCK, interval=POLL_MS),
            dcc.Store(id=ids.SHELL_TICK),
            dcc.Store(id=ids.SHELL_THEME_STORE),
            dcc.Store(id=ids.SHELL_SINK),
            dcc.Store(id=ids.EMERGENCY_SOUND_SINK),
            dcc.Store(id=ids.SHELL_PUSH),
            dcc.Store(id=ids.SHELL_POLLED),
            # what a shown tab's server callbacks read (see app.console.shown)
            *[
                dcc.Store(id=i)
                for i in (
                    ids.OVERVIEW_VIEW,
                    ids.TRAFFIC_VIEW,
                    ids.WEATHER_VIEW,
                    ids.SYSTEM_VIEW,
                    ids.EMERGENCY_VIEW,
                    ids.MAP_REFRESH,
                )
            ],
            *stores,
        ]
    )


clientside_callback(
    ClientsideFunction("smartcity", "applyTheme"),
    Output(ids.SHELL_THEME_STORE, "data"),
    Input(ids.SHELL_THEME, "value"),
)
clientside_callback(
    ClientsideFunction("smartcity", "soundSwitch"),
    Output(ids.EMERGENCY_SOUND_SINK, "data", allow_duplicate=True),
    Input(ids.SHELL_SOUND, "value"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("smartcity", "alertSound"),
    Output(ids.EMERGENCY_SOUND_SINK, "data"),
    Input(ids.EMERGENCY_ALERT, "children"),
    State(ids.SHELL_SOUND, "value"),
)
clientside_callback(
    ClientsideFunction("smartcity", "tick"),
    Output(ids.SHELL_TICK, "data"),
    Input(ids.SHELL_CLOCK, "n_intervals"),
)
# the badge is written by assets/smartcity.js each second; these tell it a poll answered
clientside_callback(
    ClientsideFunction("smartcity", "polled"),
    Output(ids.SHELL_POLLED, "data"),
    Input(ids.FEED_SUMMARY, "data"),
    Input(ids.FEED_SYSTEM, "data"),
    Input(ids.FEED_INCIDENTS, "data"),
)
clientside_callback(
    ClientsideFunction("smartcity", "pollPlan"),
    Output(ids.SHELL_CLOCK, "disabled"),
    Output(ids.SHELL_CLOCK, "interval"),
    Input(ids.SHELL_PUSH, "data"),
    Input(ids.SHELL_TABS, "active_tab"),
)
clientside_callback(
    ClientsideFunction("smartcity", "connect"),
    Output(ids.SHELL_PUSH, "data", allow_duplicate=True),
    Input(ids.SHELL_CLOCK, "id"),
    prevent_initial_call="initial_duplicate",
)
clientside_callback(
    ClientsideFunction("smartcity", "tabFromHash"),
    Output(ids.SHELL_TABS, "active_tab", allow_duplicate=True),
    Input(ids.SHELL_CLOCK, "id"),
    prevent_initial_call="initial_duplicate",
)
clientside_callback(
    ClientsideFunction("smartcity", "resizeOnTab"),
    Output(ids.SHELL_SINK, "data"),
    Input(ids.SHELL_TABS, "active_tab"),
)
