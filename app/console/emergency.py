"""Emergency tab: active incidents, operator actions, and alerts for new severe incidents.

The incident grid is filled in the browser from the live message (``assets/smartcity.js``), and
so are the alerts; the actions here act on the grid's selected row."""

from __future__ import annotations

import json
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, html, no_update
from dash.development.base_component import Component

from app.api import store
from app.console import ids
from app.console.callbacks import callback
from app.console.grids import grid

ALERT_SEVERITIES = ("high", "critical")
ACTING_ROLES = ("operator", "admin")
SEVERITY_COLOURS = {"low": "secondary", "medium": "info", "high": "warning", "critical": "danger"}


def role() -> str | None:
    """The console user's role; None when nobody is logged in (or auth is not wired in)."""
    try:
        from app.auth import current_role
    except ImportError:
        return None
    return current_role()


def user() -> str | None:
    try:
        from app.auth import current_user
    except ImportError:
        return None
    return current_user()


# (field, header, extra column options): what the live client puts in each row
COLUMNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("incident_type", "Type", {}),
    (
        "severity",
        "Severity",
        {"cellClassRules": {f"severity-{s}": {"function": f"params.value == '{s}'"} for s in SEVERITY_COLOURS}},
    ),
    ("status", "Status", {}),
    ("age", "Age", {"sortable": False}),
    ("description", "Description", {"flex": 3, "wrapText": True, "autoHeight": True}),
)


def incident_grid() -> dag.AgGrid:
    columns = [{"field": f, "headerName": h, **extra} for f, h, extra in COLUMNS]
    selection = {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}
    return grid(ids.EMERGENCY_TABLE, columns, "No active incidents.", rowSelection=selection)


def actions(can_act: bool) -> Component:
    """The buttons acting on the selected incident (Acknowledge and Resolve for operators)."""
    buttons = [dbc.Button("Show on map", id=ids.EMERGENCY_LOCATE, size="sm", color="outline-primary", className="me-1")]
    if can_act:
        buttons += [
            dbc.Button(label, id={"type": ids.EMERGENCY_ACT, "index": index}, size="sm", color=colour, className="me-1")
            for label, index, colour in (
                ("Acknowledge", ids.EMERGENCY_ACK, "outline-warning"),
                ("Resolve", ids.EMERGENCY_RESOLVE, "outline-success"),
            )
        ]
    note = html.Span("Select an incident, then:", className="small text-body-secondary me-2")
    return html.Div([note, *buttons], className="mb-2 d-flex align-items-center flex-wrap")


def alert_area() -> Component:
    """Where alerts pop up, above every tab (the live client raises them)."""
    policy = json.dumps({"severities": ALERT_SEVERITIES, "colours": SEVERITY_COLOURS})
    return html.Div(id=ids.EMERGENCY_ALERT, className="smartcity-alerts", **{"data-alerts": policy})  # type: ignore[arg-type]


def layout() -> Component:
    return html.Div(
        [
            html.Div(id=ids.EMERGENCY_FEEDBACK),
            html.H6(["Active incidents", html.Span(className="stale-note")]),
            actions(role() in ACTING_ROLES),
            incident_grid(),
            html.Div(id=ids.EMERGENCY_AUDIT, className="mt-3"),
        ]
    )


def audit_table(entries: list[dict[str, str]]) -> Component:
    """Who acknowledged or resolved what, and when (newest first)."""
    head = html.Thead(html.Tr([html.Th(h) for h in ("When (UTC)", "User", "Action", "Incident")]))
    body = html.Tbody(
        [
            html.Tr([html.Td(e.get("at", "")[:19].replace("T", " ")), html.Td(e.get("user", "")),
                     html.Td(e.get("action", "")), html.Td(e.get("incident", ""))])
            for e in entries
        ]
    )  # fmt: skip
    return html.Div([html.H6("Audit log"), dbc.Table([head, body], size="sm", responsive=True)])


@callback(Output(ids.EMERGENCY_AUDIT, "children"), Input(ids.EMERGENCY_FEEDBACK, "children"))
def _audit(_feedback: Any) -> Component | None:
    if role() != "admin":
        return None
    from app.actions import audit_log

    return audit_table(audit_log(store(), 50))


def selected_id(rows: list[dict[str, Any]] | None) -> str | None:
    """The id of the grid's selected incident (None when none is)."""
    return str(rows[0]["id"]) if rows and rows[0].get("id") is not None else None


def act(kind: str, incident_id: str) -> tuple[str, str]:
    """Acknowledge or resolve an incident as the console user: (message, colour)."""
    from app.api.errors import ApiError

    try:
        from app.actions import acknowledge_incident, resolve_incident
    except ImportError:
        return "Incident actions are not available in this process.", "secondary"
    if role() not in ACTING_ROLES:
        return "Only operators and admins can change incidents.", "danger"
    action = acknowledge_incident if kind == ids.EMERGENCY_ACK else resolve_incident
    try:
        action(incident_id, user() or "unknown")
    except ApiError as exc:
        return exc.message, "danger"
    verb = "acknowledged" if kind == ids.EMERGENCY_ACK else "resolved"
    return f"Incident {incident_id} {verb}.", "success"


@callback(
    Output(ids.EMERGENCY_FEEDBACK, "children"),
    Input({"type": ids.EMERGENCY_ACT, "index": ALL}, "n_clicks"),  # none for a viewer
    State(ids.EMERGENCY_TABLE, "selectedRows"),
    prevent_initial_call=True,
)
def _act(_clicks: list[int | None], rows: list[dict[str, Any]] | None) -> Any:
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update
    incident_id = selected_id(rows)
    if incident_id is None:
        return dbc.Alert("Select an incident in the list first.", color="secondary", dismissable=True, duration=6000)
    message, colour = act(trigger["index"], incident_id)
    return dbc.Alert(message, color=colour, dismissable=True, duration=6000)


@callback(
    Output(ids.SHELL_TABS, "active_tab"),
    Output(ids.MAP, "viewport"),
    Output(ids.MAP_SELECTED, "data", allow_duplicate=True),
    Input(ids.EMERGENCY_LOCATE, "n_clicks"),
    State(ids.EMERGENCY_TABLE, "selectedRows"),
    prevent_initial_call=True,
)
def _locate(clicks: int | None, rows: list[dict[str, Any]] | None) -> Any:
    incident_id = selected_id(rows)
    if not clicks or incident_id is None or rows[0].get("lat") is None:  # type: ignore[index]
        return no_update, no_update, no_update
    match = rows[0]  # type: ignore[index]
    viewport = {"center": [match["lat"], match["lon"]], "zoom": 18, "transition": "flyTo"}
    return ids.TAB_MAP, viewport, f"incident:{incident_id}"
