"""Emergency tab: active and resolved incidents, the selected one's notes and history, operator
actions (acknowledge, assign, note, resolve after a confirmation), and alerts for new severe
incidents.

The active grid is filled in the browser from the live message (``assets/smartcity.js``), and
so are the alerts; the resolved grid and the details are read from the speed layer here. The
actions act on the selected row of the grid shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component

from app.api import store
from app.console import chart, ids
from app.console.callbacks import callback
from app.console.grids import grid
from app.store import IncidentFilter
from pipeline.schemas import SEVERITIES

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


# a time with its date and zone (2026-12-07 14:03:05 CEST) read whole; the zone's name in the
# header may wrap
_TIME_COLUMN: dict[str, Any] = {"minWidth": 235, "wrapHeaderText": True, "autoHeaderHeight": True}
SEVERITY_COLUMN: tuple[str, str, dict[str, Any]] = (
    "severity",
    "Severity",
    {"cellClassRules": {f"severity-{s}": {"function": f"params.value == '{s}'"} for s in SEVERITY_COLOURS}},
)
# (field, header, extra column options): what the live client puts in each row; the description
# second, never narrower than a few words a line: on a phone it is in view beside the severity.
# Its times (TIMES) are printed by the browser's one formatter (assets/smartcity.js
# smartcityTime.clock) in the zone shown, which the header names (chart.label here, the browser's
# smartcityTimeHeader once it runs: the grid's columns are the browser's, as its rows are)
COLUMNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    SEVERITY_COLUMN,
    ("description", "Description", {"flex": 3, "minWidth": 200, "wrapText": True, "autoHeight": True}),
    ("incident_type", "Type", {}),
    ("status", "Status", {}),
    ("reported", "Reported", {**_TIME_COLUMN, "headerValueGetter": {"function": "smartcityTimeHeader(params)"}}),
    ("age", "Age", {"sortable": False}),
    ("acknowledged_by", "Acknowledged by", {}),
    ("assigned_to", "Assigned to", {}),
)
# the resolved grid: what the server puts in each row (times by chart.clock)
RESOLVED_COLUMNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("resolved", "Resolved", _TIME_COLUMN),
    ("id", "Incident", {}),
    ("incident_type", "Type", {}),
    SEVERITY_COLUMN,
    ("acknowledged_by", "Acknowledged by", {}),
    ("assigned_to", "Assigned to", {}),
    ("description", "Description", {"flex": 3, "wrapText": True, "autoHeight": True}),
)
TIMES = frozenset({"reported", "resolved"})
SINCE_HOURS = {"1": "last hour", "6": "last 6 hours", "24": "last 24 hours"}


_SELECTION = {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}


def columns(spec: tuple[tuple[str, str, dict[str, Any]], ...], tz: tzinfo) -> list[dict[str, Any]]:
    """A grid's column definitions, each time column's header naming ``tz``."""
    return [{"field": f, "headerName": chart.label(h, tz) if f in TIMES else h, **extra} for f, h, extra in spec]


def incident_grid(tz: tzinfo | None = None) -> dag.AgGrid:
    """The active incidents (``tz``: the zone its time headers name; the city's by default)."""
    spec = columns(COLUMNS, tz or chart.zone(False))
    return grid(ids.EMERGENCY_TABLE, spec, "No active incidents.", rowSelection=_SELECTION)


def resolved_grid(tz: tzinfo | None = None) -> dag.AgGrid:
    spec = columns(RESOLVED_COLUMNS, tz or chart.zone(False))
    table = grid(ids.EMERGENCY_RESOLVED_TABLE, spec, "No resolved incidents match.", rowSelection=_SELECTION)
    table.className = "smartcity-grid"  # filled by the server, not the live client
    return table


def resolved_filters() -> Component:
    """Type, severity and time of the resolved incidents listed."""
    severity = [{"label": "any severity", "value": ""}] + [{"label": s, "value": s} for s in SEVERITIES]
    since = [{"label": label, "value": hours} for hours, label in SINCE_HOURS.items()]
    return dbc.Row(
        [
            dbc.Col(dbc.Input(id=ids.EMERGENCY_RESOLVED_TYPE, placeholder="type, e.g. fire", size="sm",
                              debounce=True, maxlength=64), xs=12, sm=4),
            dbc.Col(dbc.Select(id=ids.EMERGENCY_RESOLVED_SEVERITY, options=severity, value="", size="sm"), xs=6, sm=4),
            dbc.Col(dbc.Select(id=ids.EMERGENCY_RESOLVED_SINCE, options=since, value="24", size="sm"), xs=6, sm=4),
        ],
        className="g-2 mb-2",
    )  # fmt: skip


def confirm_dialog() -> Component:
    """Asked before a resolution: Cancel leaves the incident as it is."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Resolve this incident?")),
            dbc.ModalBody(id=ids.EMERGENCY_CONFIRM_TEXT),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=ids.EMERGENCY_CONFIRM_NO, color="secondary", className="me-2"),
                    dbc.Button("Confirm resolve", id=ids.EMERGENCY_CONFIRM_YES, color="success"),
                ]
            ),
        ],
        id=ids.EMERGENCY_CONFIRM,
        is_open=False,
    )


def editors() -> Component:
    """Assign the selected incident to a user, add a note to it (operators and admins)."""
    return html.Div(
        [
            dbc.InputGroup(
                [
                    dbc.Input(id=ids.EMERGENCY_ASSIGNEE, placeholder="user name", maxlength=64, size="sm"),
                    dbc.Button("Assign", id={"type": ids.EMERGENCY_EDIT, "index": ids.EMERGENCY_ASSIGN},
                               color="outline-primary", size="sm"),
                ],
                className="mb-2",
            ),
            dbc.Textarea(id=ids.EMERGENCY_NOTE_TEXT, placeholder="a note on this incident", maxlength=2000,
                         rows=2, className="mb-1"),
            dbc.Button("Add note", id={"type": ids.EMERGENCY_EDIT, "index": ids.EMERGENCY_NOTE},
                       color="outline-primary", size="sm"),
        ],
        className="mt-2",
    )  # fmt: skip


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
    can_act = role() in ACTING_ROLES
    tz = chart.zone(False)  # the city's; a browser that chose UTC gets its headers from _zone_headers
    switch = dbc.RadioItems(
        id=ids.EMERGENCY_VIEW,
        options=[{"label": "Active", "value": "active"}, {"label": "Resolved", "value": "resolved"}],
        value="active",
        className="btn-group mb-2",
        inputClassName="btn-check",
        labelClassName="btn btn-sm btn-outline-primary",
        labelCheckedClassName="active",
    )
    return html.Div(
        [
            html.Div(id=ids.EMERGENCY_FEEDBACK),
            switch,
            html.Div(
                [html.H6(["Active incidents", html.Span(className="stale-note")]), actions(can_act), incident_grid(tz)],
                id=ids.EMERGENCY_ACTIVE_PANE,
            ),
            html.Div(
                [
                    html.H6("Resolved incidents (the speed layer keeps a day; History has the rest)"),
                    resolved_filters(),
                    resolved_grid(tz),
                ],
                id=ids.EMERGENCY_RESOLVED_PANE,
                style={"display": "none"},
            ),
            dbc.Card(
                dbc.CardBody([html.Div(id=ids.EMERGENCY_DETAILS), editors() if can_act else None]),
                className="mt-3",
            ),
            confirm_dialog(),
            dcc.Store(id=ids.EMERGENCY_CONFIRM_ID),
            html.Div(id=ids.EMERGENCY_AUDIT, className="mt-3"),
        ]
    )


def audit_table(entries: list[dict[str, str]], tz: tzinfo = UTC) -> Component:
    """Who acknowledged or resolved what, and when (in ``tz``; newest first)."""
    head = html.Thead(html.Tr([html.Th(h) for h in (chart.label("When", tz), "User", "Action", "Incident")]))
    body = html.Tbody(
        [
            html.Tr([html.Td(chart.clock_or(e.get("at"), tz)), html.Td(e.get("user", "")),
                     html.Td(e.get("action", "")), html.Td(e.get("incident", ""))])
            for e in entries
        ]
    )  # fmt: skip
    return html.Div([html.H6("Audit log"), dbc.Table([head, body], size="sm", responsive=True)])


@callback(
    Output(ids.EMERGENCY_AUDIT, "children"),
    Input(ids.EMERGENCY_FEEDBACK, "children"),
    Input(chart.UTC_SWITCH, "value"),
)
def _audit(_feedback: Any, utc: bool | None) -> Component | None:
    if role() != "admin":
        return None
    from app.actions import audit_log

    return audit_table(audit_log(store(), 50), chart.zone(utc))


@callback(Output(ids.EMERGENCY_RESOLVED_TABLE, "columnDefs"), Input(chart.UTC_SWITCH, "value"))
def _zone_headers(utc: bool | None) -> list[dict[str, Any]]:
    """The resolved grid's time header names the zone shown (the active grid's are the browser's)."""
    return columns(RESOLVED_COLUMNS, chart.zone(utc))


def selected_id(rows: list[dict[str, Any]] | None) -> str | None:
    """The id of the grid's selected incident (None when none is)."""
    return str(rows[0]["id"]) if rows and rows[0].get("id") is not None else None


def chosen(view: str | None, active: list[dict[str, Any]] | None, resolved: list[dict[str, Any]] | None) -> str | None:
    """The incident selected in the grid shown."""
    return selected_id(resolved if view == "resolved" else active)


def resolved_rows(incident_type: str | None, severity: str | None, since_hours: str | None,
                  tz: tzinfo = UTC) -> list[dict[str, Any]]:  # fmt: skip
    """The resolved incidents the filters let through, most recently resolved first, as grid rows
    (times in ``tz``)."""
    hours = float(since_hours) if since_hours in SINCE_HOURS else 24.0
    since = datetime.now(UTC) - timedelta(hours=hours)
    where = IncidentFilter(int(since.timestamp() * 1000), (incident_type or "").strip() or None,
                           severity if severity in SEVERITIES else None)  # fmt: skip
    rows = store().incidents("resolved", 500, where)
    return [{**r, "resolved": chart.clock_or(r.get("resolved_at"), tz, missing="")} for r in rows]


_EVENT_WORDS = {"reported": "Reported", "resolved": "Resolved", "reopened": "Reopened",
                "acknowledged": "Acknowledged", "assigned": "Assigned", "noted": "Note"}  # fmt: skip


def details(incident: dict[str, Any], tz: tzinfo = UTC) -> Component:
    """The incident's acknowledgement, assignee, notes and history (device strings as text;
    times in ``tz``)."""

    def fact(label: str, value: Any) -> Component:
        return html.Div([html.Span(label + ": ", className="text-body-secondary"), html.Span(str(value or "–"))])

    ack = incident.get("acknowledged_by")
    if ack:
        ack = f"{ack} at {chart.clock_or(incident.get('acknowledged_at'), tz)}"
    notes = [html.Li([html.Span(f"{chart.clock_or(n['at'], tz)}, {n['user']}: ", className="text-body-secondary"),
                      html.Span(n["text"], style={"whiteSpace": "pre-wrap"})]) for n in incident["notes"]]  # fmt: skip
    head = html.Thead(html.Tr([html.Th(h) for h in (chart.label("When", tz), "What", "By", "Detail")]))
    body = html.Tbody(
        [
            html.Tr([html.Td(chart.clock_or(h["at"], tz)), html.Td(_EVENT_WORDS.get(h["event"], h["event"])),
                     html.Td(h.get("by", "")), html.Td(h.get("to") or h.get("text") or "")])
            for h in incident["history"]
        ]
    )  # fmt: skip
    return html.Div(
        [
            html.H6(f"{incident.get('incident_type', 'incident')} {incident['id']} · {incident.get('status', '')}"),
            fact("Severity", incident.get("severity")),
            fact("Acknowledged by", ack),
            fact("Assigned to", incident.get("assigned_to")),
            html.Div("Notes", className="fw-semibold mt-2"),
            html.Ul(notes, className="mb-2") if notes else html.Div("No notes.", className="text-body-secondary"),
            html.Div("History", className="fw-semibold mt-2"),
            dbc.Table([head, body], size="sm", responsive=True, className="mb-0"),
        ]
    )


@callback(
    Output(ids.EMERGENCY_ACTIVE_PANE, "style"),
    Output(ids.EMERGENCY_RESOLVED_PANE, "style"),
    Input(ids.EMERGENCY_VIEW, "value"),
)
def _switch(view: str | None) -> tuple[dict[str, str], dict[str, str]]:
    hidden: dict[str, str] = {"display": "none"}
    shown: dict[str, str] = {}
    return (hidden, shown) if view == "resolved" else (shown, hidden)


@callback(
    Output(ids.EMERGENCY_RESOLVED_TABLE, "rowData"),
    Input(ids.EMERGENCY_VIEW, "value"),
    Input(ids.EMERGENCY_RESOLVED_TYPE, "value"),
    Input(ids.EMERGENCY_RESOLVED_SEVERITY, "value"),
    Input(ids.EMERGENCY_RESOLVED_SINCE, "value"),
    Input(ids.EMERGENCY_FEEDBACK, "children"),
    Input(chart.UTC_SWITCH, "value"),
)
def _resolved(view: str | None, incident_type: str | None, severity: str | None, since: str | None, _f: Any,
              utc: bool | None) -> Any:  # fmt: skip
    if view != "resolved":
        return no_update
    return resolved_rows(incident_type, severity, since, chart.zone(utc))


@callback(
    Output(ids.EMERGENCY_DETAILS, "children"),
    Input(ids.EMERGENCY_TABLE, "selectedRows"),
    Input(ids.EMERGENCY_RESOLVED_TABLE, "selectedRows"),
    Input(ids.EMERGENCY_VIEW, "value"),
    Input(ids.EMERGENCY_FEEDBACK, "children"),
    Input(chart.UTC_SWITCH, "value"),
)
def _details(active: list[dict[str, Any]] | None, resolved: list[dict[str, Any]] | None, view: str | None,
             _feedback: Any, utc: bool | None) -> Component:  # fmt: skip
    from app.actions import incident_details
    from app.api.errors import ApiError

    incident_id = chosen(view, active, resolved)
    if incident_id is None:
        return html.Div("Select an incident to see its notes and history.", className="text-body-secondary")
    try:
        return details(incident_details(incident_id), chart.zone(utc))
    except ApiError as exc:
        return html.Div(exc.message, className="text-body-secondary")


def act(kind: str, incident_id: str, value: str = "") -> tuple[str, str]:
    """Acknowledge, resolve, assign (to ``value``) or note (``value``) an incident as the console
    user: (message, colour)."""
    from app.api.errors import ApiError

    try:
        from app.actions import acknowledge_incident, assign_incident, note_incident, resolve_incident
    except ImportError:
        return "Incident actions are not available in this process.", "secondary"
    if role() not in ACTING_ROLES:
        return "Only operators and admins can change incidents.", "danger"
    who = user() or "unknown"
    try:
        if kind == ids.EMERGENCY_ACK:
            acknowledge_incident(incident_id, who)
            return f"Incident {incident_id} acknowledged.", "success"
        if kind == ids.EMERGENCY_ASSIGN:
            assign_incident(incident_id, {"user": value}, who)
            return f"Incident {incident_id} assigned to {value.strip()}.", "success"
        if kind == ids.EMERGENCY_NOTE:
            note_incident(incident_id, {"text": value}, who)
            return f"Note added to incident {incident_id}.", "success"
        resolve_incident(incident_id, who)
    except ApiError as exc:
        return exc.message, "danger"
    return f"Incident {incident_id} resolved.", "success"


def _feedback(message: str, colour: str) -> Component:
    return dbc.Alert(message, color=colour, dismissable=True, duration=6000)


_SELECT_FIRST = ("Select an incident in the list first.", "secondary")


@callback(
    Output(ids.EMERGENCY_FEEDBACK, "children"),
    Output(ids.EMERGENCY_CONFIRM, "is_open"),
    Output(ids.EMERGENCY_CONFIRM_ID, "data"),
    Output(ids.EMERGENCY_CONFIRM_TEXT, "children"),
    Input({"type": ids.EMERGENCY_ACT, "index": ALL}, "n_clicks"),  # none for a viewer
    State(ids.EMERGENCY_TABLE, "selectedRows"),
    prevent_initial_call=True,
)
def _act(_clicks: list[int | None], rows: list[dict[str, Any]] | None) -> Any:
    """Acknowledge at once; Resolve asks first (the dialog remembers which incident)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update, no_update, no_update, no_update
    incident_id = selected_id(rows)
    if incident_id is None:
        return _feedback(*_SELECT_FIRST), no_update, no_update, no_update
    if trigger["index"] == ids.EMERGENCY_RESOLVE:
        row = rows[0]  # type: ignore[index]
        what = f"{row.get('severity') or ''} {row.get('incident_type') or 'incident'} {incident_id}".strip()
        return no_update, True, incident_id, f"Resolve {what}? It leaves the active list."
    return _feedback(*act(trigger["index"], incident_id)), no_update, no_update, no_update


@callback(
    Output(ids.EMERGENCY_FEEDBACK, "children", allow_duplicate=True),
    Output(ids.EMERGENCY_CONFIRM, "is_open", allow_duplicate=True),
    Input(ids.EMERGENCY_CONFIRM_YES, "n_clicks"),
    Input(ids.EMERGENCY_CONFIRM_NO, "n_clicks"),
    State(ids.EMERGENCY_CONFIRM_ID, "data"),
    prevent_initial_call=True,
)
def _confirm(_yes: int | None, _no: int | None, incident_id: str | None) -> Any:
    if not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update, no_update
    if ctx.triggered_id != ids.EMERGENCY_CONFIRM_YES or not incident_id:
        return no_update, False  # Cancel: nothing changes
    return _feedback(*act(ids.EMERGENCY_RESOLVE, incident_id)), False


@callback(
    Output(ids.EMERGENCY_FEEDBACK, "children", allow_duplicate=True),
    Output(ids.EMERGENCY_NOTE_TEXT, "value"),
    Input({"type": ids.EMERGENCY_EDIT, "index": ALL}, "n_clicks"),  # none for a viewer
    State(ids.EMERGENCY_TABLE, "selectedRows"),
    State(ids.EMERGENCY_RESOLVED_TABLE, "selectedRows"),
    State(ids.EMERGENCY_VIEW, "value"),
    State(ids.EMERGENCY_ASSIGNEE, "value"),
    State(ids.EMERGENCY_NOTE_TEXT, "value"),
    prevent_initial_call=True,
)
def _edit(_clicks: list[int | None], active: list[dict[str, Any]] | None, resolved: list[dict[str, Any]] | None,
          view: str | None, assignee: str | None, note: str | None) -> Any:  # fmt: skip
    """Assign the selected incident, or add the typed note to it (cleared once kept)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update, no_update
    incident_id = chosen(view, active, resolved)
    if incident_id is None:
        return _feedback(*_SELECT_FIRST), no_update
    kind = trigger["index"]
    message, colour = act(kind, incident_id, (assignee if kind == ids.EMERGENCY_ASSIGN else note) or "")
    kept = colour == "success" and kind == ids.EMERGENCY_NOTE
    return _feedback(message, colour), "" if kept else no_update


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
