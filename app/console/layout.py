"""The console's shell: navbar (title, the live data's state, theme) and tabs.

Live data is in no Dash store: ``assets/smartcity_live.js`` holds the city (from the socket, or
``GET /api/live`` while it is down) and ``assets/smartcity.js`` draws the badge, cards and grids
from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component
from flask import session

from app.console import chart, emergency, history, ids, inbox, overview, system, traffic, weather
from app.console import map as map_tab
from app.console.callbacks import callback, clientside_callback


def _switch(switch_id: str, label: str, extra_class: str = "") -> Component:
    """An off-by-default switch this browser remembers."""
    return dbc.Switch(id=switch_id, label=label, value=False, persistence=True, persistence_type="local",
                      className=f"mb-0 text-body {extra_class}".strip())  # fmt: skip


def signed_in() -> list[Component]:
    """Who is signed in, with their role, and the way out (nothing when nobody is)."""
    user, role = session.get("user"), session.get("role")
    if not role:
        return []
    who = [html.Span(str(user), className="fw-semibold")] if user and user != role else []
    return [
        # on a phone the role gives way to the switches (one row of them under the title)
        html.Span(
            [*who, dbc.Badge(str(role), color="info", className="ms-1")],
            id=ids.SHELL_USER,
            className="ms-3 d-none d-sm-inline",
        ),
        html.A("Log out", id=ids.SHELL_LOGOUT, href="/logout", className="ms-2 small link-secondary"),
    ]


def navbar() -> Component:
    """Title, the live data's badge (state, age, reason), the alerts' bell, the sound, theme and UTC
    switches, the user."""
    # The title and the live badge share a row, the controls another when the window is narrow: on
    # a phone the navbar takes two short rows, not four
    brand = dbc.NavbarBrand(
        ["Smart City", html.Span(" · Operations", className="d-none d-sm-inline")], className="fw-semibold text-body"
    )
    return dbc.Navbar(
        dbc.Container(
            [
                html.Div(
                    [brand, dbc.Badge("connecting…", id=ids.SHELL_BADGE, color="secondary", className="me-3")],
                    className="d-flex align-items-center",
                ),
                html.Div(
                    [
                        inbox.bell(session.get("role")),
                        inbox.sound_switch(),
                        _switch(ids.SHELL_THEME, "Dark", "me-3"),
                        html.Span(  # times: the city's zone unless this browser asks for UTC
                            _switch(chart.UTC_SWITCH, "UTC"),
                            title=f"Show times in UTC instead of the city's zone ({chart.city_zone()})",
                        ),
                        *signed_in(),
                    ],
                    className="shell-controls d-flex align-items-center flex-wrap",
                ),
            ],
            fluid=True,
            className="row-gap-1",
        ),
        className="border-bottom mb-2 bg-body-tertiary",
    )


# Tabs with Plotly charts or AG Grids are built when first shown: a chart anywhere in the page
# makes the browser load and run Plotly (most of a second of its main thread), a grid AG Grid's
# 872 KB chunk and its set-up (Emergency's two grids made the Map's first render at 20,000
# vehicles 1.3-1.7 s against 1.0-1.2 s without), which a console opened on the Map need not wait for.
LAZY: dict[str, Callable[[], Component]] = {
    ids.TAB_EMERGENCY: emergency.layout,
    ids.TAB_OVERVIEW: overview.layout,
    ids.TAB_TRAFFIC: traffic.layout,
    ids.TAB_WEATHER: weather.layout,
    ids.TAB_HISTORY: history.layout,
}


def body_id(tab: str) -> str:
    return f"{tab}-body"


# every tab, in the order shown: id, label, content
TABS: tuple[tuple[str, str, Callable[[], Component]], ...] = (
    (ids.TAB_OVERVIEW, "Overview", overview.layout),
    (ids.TAB_MAP, "Map", map_tab.layout),
    (ids.TAB_EMERGENCY, "Emergency", emergency.layout),
    (ids.TAB_TRAFFIC, "Traffic", traffic.layout),
    (ids.TAB_WEATHER, "Weather", weather.layout),
    (ids.TAB_HISTORY, "History", history.layout),
    (ids.TAB_SYSTEM, "System", system.layout),
)


def tabs() -> Component:
    def tab(tab_id: str, label: str, content: Callable[[], Component]) -> Component:
        return dbc.Tab(html.Div(id=body_id(tab_id)) if tab_id in LAZY else content(), label=label, tab_id=tab_id)

    return dbc.Tabs(
        [tab(*t) for t in TABS],
        id=ids.SHELL_TABS,
        active_tab=ids.TAB_OVERVIEW,
        className="mb-2",
    )


def build() -> Component:
    """The whole page (built per page load, inside a request, so it can read app config)."""
    return html.Div(
        [
            navbar(),
            dbc.Container(
                [tabs()],
                fluid=True,
            ),
            *inbox.parts(),
            dcc.Store(id=ids.SHELL_THEME_STORE),
            dcc.Store(id=ids.SHELL_TIME_ZONE),
            dcc.Store(id=ids.SHELL_SINK),
            dcc.Store(id=ids.SHELL_MOUNTED),
        ]
    )


clientside_callback(
    ClientsideFunction("smartcity", "applyTheme"),
    Output(ids.SHELL_THEME_STORE, "data"),
    Input(ids.SHELL_THEME, "value"),
)
clientside_callback(  # the times the browser prints (the live grids) follow the UTC switch too
    ClientsideFunction("smartcity", "timeZone"),
    Output(ids.SHELL_TIME_ZONE, "data"),
    Input(chart.UTC_SWITCH, "value"),
)
clientside_callback(
    ClientsideFunction("smartcity", "tabOnLoad"),
    Output(ids.SHELL_TABS, "active_tab", allow_duplicate=True),
    Input(ids.SHELL_SINK, "id"),
    prevent_initial_call="initial_duplicate",
)


@callback(
    *[Output(body_id(t), "children") for t in LAZY],
    Output(ids.SHELL_MOUNTED, "data"),
    Input(ids.SHELL_TABS, "active_tab"),
    State(ids.SHELL_MOUNTED, "data"),
)
def _mount(tab: str | None, mounted: list[str] | None) -> list[Any]:
    """A lazy tab's content, the first time it is shown (its callbacks then run as on load)."""
    mounted = mounted or []
    if tab not in LAZY or tab in mounted:
        return [no_update] * (len(LAZY) + 1)
    return [LAZY[t]() if t == tab else no_update for t in LAZY] + [[*mounted, tab]]


clientside_callback(
    ClientsideFunction("smartcity", "resizeOnTab"),
    Output(ids.SHELL_SINK, "data"),
    Input(ids.SHELL_TABS, "active_tab"),
)
