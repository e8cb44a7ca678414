"""The alert inbox: a bell with the unread count on the navbar (every tab), a panel listing the
alerts with Acknowledge and "Show on map", and the toasts of alerts that arrive after the page
loaded (bottom centre: clear of the map's layer and vehicle-type lists on its right).

The alert log on the server is the truth (``GET /api/alerts``); ``assets/smartcity_inbox.js``
polls it, counts, lists and announces. Nothing here is a server callback: the inbox costs the
server one small request per browser every few seconds."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.development.base_component import Component

from app.console import ids
from app.console.callbacks import clientside_callback


def bell(role: str | None) -> Component:
    """The navbar's bell: unread count, and a note when the alert log stops answering."""
    button = html.Button(
        [html.Span(className="inbox-bell-icon", **{"aria-hidden": "true"}),  # type: ignore[arg-type]
         dbc.Badge("…", id=ids.INBOX_COUNT, pill=True, color="secondary", className="ms-1")],
        id=ids.INBOX_BELL, type="button", className="btn btn-link p-1 d-flex align-items-center text-body",
        title="Alerts", **{"aria-label": "Alerts"},  # type: ignore[arg-type]
    )  # fmt: skip
    stale = html.Span(id=ids.INBOX_STALE, className="small text-warning-emphasis ms-1", hidden=True)
    return html.Div([button, stale], id=ids.INBOX_BELL_BOX, className="d-flex align-items-center me-3",
                    **{"data-role": role or ""})  # type: ignore[arg-type]  # fmt: skip


def sound_switch() -> Component:
    """Sound, on until switched off (this browser remembers it), and a note while the browser
    holds sound back (it plays nothing before the first click on the page)."""
    switch = dbc.Switch(id=ids.SHELL_SOUND, label="Sound", value=True, persistence=True, persistence_type="local",
                        className="mb-0 text-body")  # fmt: skip
    note = html.Span("blocked by the browser until you click the page", id=ids.INBOX_SOUND_NOTE,
                     className="inbox-sound-note small text-body-secondary", hidden=True)  # fmt: skip
    return html.Div([switch, note], className="inbox-sound d-flex align-items-center me-3")


def panel() -> Component:
    """The list of alerts, newest first (drawn by the browser from the alert log)."""
    view = dbc.RadioItems(
        id=ids.INBOX_VIEW,
        options=[{"label": "Unread", "value": "unread"}, {"label": "All", "value": "all"}],
        value="unread",
        inline=True,
        className="mb-2",
    )
    return dbc.Offcanvas(
        [
            view,
            html.Div(id=ids.INBOX_FEEDBACK, className="alert alert-danger py-1 small", hidden=True),
            html.Div(id=ids.INBOX_LIST, className="list-group list-group-flush"),
        ],
        id=ids.INBOX_PANEL,
        title="Alerts",
        placement="end",
        is_open=False,
        scrollable=True,
    )


def parts() -> list[Component]:
    """What the page holds besides the navbar's bell: the panel, the toasts' area, a sink."""
    return [panel(), html.Div(id=ids.INBOX_TOASTS, className="inbox-toasts", **{"aria-live": "polite"}),  # type: ignore[arg-type]
            dcc.Store(id=ids.INBOX_SINK)]  # fmt: skip


clientside_callback(
    ClientsideFunction("smartcity_inbox", "toggle"),
    Output(ids.INBOX_PANEL, "is_open"),
    Input(ids.INBOX_BELL, "n_clicks"),
    State(ids.INBOX_PANEL, "is_open"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("smartcity_inbox", "opened"),
    Output(ids.INBOX_SINK, "data"),
    Input(ids.INBOX_PANEL, "is_open"),
)
clientside_callback(
    ClientsideFunction("smartcity_inbox", "view"),
    Output(ids.INBOX_SINK, "data", allow_duplicate=True),
    Input(ids.INBOX_VIEW, "value"),
    prevent_initial_call="initial_duplicate",
)
clientside_callback(
    ClientsideFunction("smartcity_inbox", "sound"),
    Output(ids.INBOX_SINK, "data", allow_duplicate=True),
    Input(ids.SHELL_SOUND, "value"),
    prevent_initial_call="initial_duplicate",
)
