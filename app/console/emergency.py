"""Emergency tab: active incidents, operator actions, and alerts for new severe incidents."""

from __future__ import annotations

import time
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from dash.development.base_component import Component

from app.api import store
from app.console import ids
from app.console.shown import when_shown

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


def age(ts_ms: float | None, now_ms: float) -> str:
    """A short human age: ``42 s``, ``5 min``, ``3 h``."""
    if ts_ms is None:
        return ""
    seconds = max(0, int((now_ms - ts_ms) / 1000))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _button(kind: str, label: str, incident_id: str, colour: str) -> Component:
    return dbc.Button(label, id={"type": kind, "index": incident_id}, size="sm", color=colour, className="me-1")


def incident_rows(incidents: list[dict[str, Any]], now_ms: float, can_act: bool) -> list[Component]:
    """One table row per incident; every device string goes in as text (Dash escapes it)."""
    rows: list[Component] = []
    for inc in incidents:
        iid = str(inc.get("id", ""))
        severity = str(inc.get("severity", ""))
        status = "acknowledged" if inc.get("acknowledged_by") else str(inc.get("status", ""))
        buttons = [_button(ids.EMERGENCY_LOCATE, "Map", iid, "outline-primary")]
        if can_act:
            if not inc.get("acknowledged_by"):
                buttons.append(_button(ids.EMERGENCY_ACK, "Acknowledge", iid, "outline-warning"))
            buttons.append(_button(ids.EMERGENCY_RESOLVE, "Resolve", iid, "outline-success"))
        rows.append(
            html.Tr(
                [
                    html.Td(str(inc.get("incident_type", ""))),
                    html.Td(dbc.Badge(severity, color=SEVERITY_COLOURS.get(severity, "secondary"))),
                    html.Td(status),
                    html.Td(age(inc.get("first_seen", inc.get("ts")), now_ms)),
                    html.Td(str(inc.get("description", "")), className="text-break"),
                    html.Td(buttons, className="text-nowrap"),
                ],
                className="incident-row",
            )
        )
    return rows


def incident_table(incidents: list[dict[str, Any]], now_ms: float, can_act: bool) -> Component:
    if not incidents:
        return html.P("No active incidents.", className="text-body-secondary")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Type", "Severity", "Status", "Age", "Description", "")]))
    body = html.Tbody(incident_rows(incidents, now_ms, can_act))
    return dbc.Table([head, body], hover=True, size="sm", responsive=True, className="align-middle")


def new_alerts(incidents: list[dict[str, Any]], seen: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Severe incidents not seen before, and the ids seen now (first call: remember, don't alert)."""
    current = [str(i.get("id")) for i in incidents]
    if seen is None:
        return [], current
    known = set(seen)
    fresh = [i for i in incidents if str(i.get("id")) not in known and i.get("severity") in ALERT_SEVERITIES]
    return fresh, current


def alert_area() -> Component:
    """Where alerts pop up, above every tab."""
    return html.Div(
        [html.Div(id=ids.EMERGENCY_ALERT, className="smartcity-alerts"), dcc.Store(id=ids.EMERGENCY_SEEN)],
    )


def layout() -> Component:
    return html.Div(
        [
            html.Div(id=ids.EMERGENCY_FEEDBACK),
            html.Div(id=ids.EMERGENCY_TABLE),
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


def _alert(incident: dict[str, Any]) -> Component:
    severity = str(incident.get("severity", ""))
    text = f"New {severity} incident: {incident.get('incident_type', '')} — {incident.get('description', '')}"
    return dbc.Alert(text, color=SEVERITY_COLOURS.get(severity, "warning"), dismissable=True, duration=15000)


@callback(Output(ids.EMERGENCY_TABLE, "children"), Input(ids.EMERGENCY_VIEW, "data"))
def _table(incidents: list[dict[str, Any]] | None) -> Component:
    return incident_table(incidents or [], time.time() * 1000, role() in ACTING_ROLES)


@callback(Output(ids.EMERGENCY_AUDIT, "children"), Input(ids.EMERGENCY_VIEW, "data"))
def _audit(_incidents: Any) -> Component | None:
    if role() != "admin":
        return None
    from app.actions import audit_log

    return audit_table(audit_log(store(), 50))


@callback(
    Output(ids.EMERGENCY_ALERT, "children"),
    Output(ids.EMERGENCY_SEEN, "data"),
    Input(ids.FEED_INCIDENTS, "data"),
    State(ids.EMERGENCY_SEEN, "data"),
)
def _alerts(incidents: list[dict[str, Any]] | None, seen: list[str] | None) -> Any:
    fresh, current = new_alerts(incidents or [], seen)
    return ([_alert(i) for i in fresh] if fresh else no_update), current


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
    Input({"type": ids.EMERGENCY_ACK, "index": ALL}, "n_clicks"),
    Input({"type": ids.EMERGENCY_RESOLVE, "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def _act(_acks: list[int | None], _resolves: list[int | None]) -> Any:
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update  # the table re-rendered; nobody clicked
    message, colour = act(trigger["type"], trigger["index"])
    return dbc.Alert(message, color=colour, dismissable=True, duration=6000)


@callback(
    Output(ids.SHELL_TABS, "active_tab"),
    Output(ids.MAP, "viewport"),
    Output(ids.MAP_SELECTED, "data", allow_duplicate=True),
    Input({"type": ids.EMERGENCY_LOCATE, "index": ALL}, "n_clicks"),
    State(ids.FEED_INCIDENTS, "data"),
    prevent_initial_call=True,
)
def _locate(_clicks: list[int | None], incidents: list[dict[str, Any]] | None) -> Any:
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update, no_update, no_update
    match = next((i for i in incidents or [] if str(i.get("id")) == trigger["index"]), None)
    if match is None:
        return no_update, no_update, no_update
    viewport = {"center": [match["lat"], match["lon"]], "zoom": 18, "transition": "flyTo"}
    return ids.TAB_MAP, viewport, f"incident:{trigger['index']}"


when_shown(ids.TAB_EMERGENCY, ids.FEED_INCIDENTS, ids.EMERGENCY_VIEW)
