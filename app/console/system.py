"""System tab: pipeline health — processors, per-stream rate, lag and counters, age of the newest
events, the latest dead letters with their reasons, Kafka topics with messages that no stream
reads, speed-layer and lake status, sockets.

The live counters at the top (events/s, events received, the newest event of each kind, the live
data's state) are drawn in the browser from the live message. The rest is ``feed.system_status``
(``app.health.system``), read every few seconds while the tab is shown: the same whether the
processor runs in this process or elsewhere (published to the speed layer). Every string from a
device (dead letters' payloads and reasons, names) is a plain child string, which React renders
as text.
"""

from __future__ import annotations

import time
from datetime import UTC, tzinfo
from typing import Any

import dash_bootstrap_components as dbc
import redis
from dash import Input, Output, html
from dash.development.base_component import Component
from flask import session

from app.api import store
from app.api.rules import rule_book
from app.api.webhooks import webhooks
from app.console import chart, feed, ids, zones
from app.console.callbacks import callback
from app.console.shown import EveryWhileShown
from app.webhooks import origin

STREAM_COLUMNS = ("received", "valid", "dead_letters", "speed_layer", "lake_rows")
STATE_COLOURS = {"running": "success", "stale": "warning", "stopped": "secondary", "gone": "danger"}
REFRESH_MS = 5000  # the pipeline's status: processors publish theirs every few seconds
REFRESH = EveryWhileShown(ids.TAB_SYSTEM, ids.SYSTEM_RECENT, ids.SYSTEM_RECENT_CLOCK, REFRESH_MS)
# the live counters: (element id, label); assets/smartcity.js drawSystem fills them
LIVE_COUNTERS = (
    ("system-live-state", "Live data"),
    ("system-live-rate", "Events / s"),
    ("system-live-received", "Events received"),
    ("system-live-newest", "Newest event"),
)
WEBHOOKS = "system-webhooks"  # the Webhooks panel
WEBHOOK_DEAD_LETTERS = 10
OUTCOME_COLOURS = {"delivered": "success", "retrying": "warning", "failed": "danger"}
NO_PIPELINE = "No processor publishes its status to this speed layer: is the pipeline running?"


def age(seconds: float | None) -> str:
    """``12.3 s``, ``4 min``, ``2.5 h``; an en dash when unknown."""
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _fmt(value: Any) -> str:
    return "–" if value is None else str(value)


def speed_layer_text(ok: bool | None, status: dict[str, Any]) -> str:
    """Reachable or not, in words, with what the processors keep for it and what it missed."""
    text = "reachable" if ok else "unreachable from this server"
    if status.get("unreachable_for_s") is not None:
        text += f"; the pipeline cannot write to it for {age(status['unreachable_for_s'])}"
    if status.get("pending_events"):
        text += f", {status['pending_events']:,} events kept to apply when it returns"
    if status.get("dropped_events"):
        text += f"; {status['dropped_events']:,} events never applied (python -m pipeline.rebuild restores them)"
    return text


def status_list(system: dict[str, Any] | None) -> Component:
    """Speed layer and lake status, open sockets, and the age of the newest event of each kind."""
    s = system or {}
    lake = s.get("lake") or {}
    if lake.get("reachable"):
        lake_text = "reachable"
        if lake.get("last_write_age_s") is not None:
            lake_text += f", rows last written {age(lake['last_write_age_s'])} ago"
    else:
        lake_text = "unreachable" + (f" ({lake['error']})" if lake.get("error") else "") if lake else "unknown"
    if lake.get("errors"):
        lake_text += f", {lake['errors']} failed writes (retried)"
    items = [
        html.Li(f"Speed layer: {speed_layer_text(s.get('store_ok'), s.get('speed_layer') or {})}"),
        html.Li(f"Lake: {lake_text}"),
        html.Li(f"Live-update sockets: {_fmt(s.get('ws_clients'))} (this server process)"),
    ]
    for kind, seconds in (s.get("data_age_s") or {}).items():
        items.append(html.Li(f"Newest {kind} event: {age(seconds)} ago"))
    return html.Ul(items, className="mb-2")


def processor_table(processors: list[dict[str, Any]] | None) -> Component:
    """One row per processor known to the speed layer: is it publishing, how fast, how far behind."""
    if not processors:
        return dbc.Alert(NO_PIPELINE, color="warning", className="py-2")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Processor", "State", "Published", "events/s", "lag", "batches")]))
    rows = []
    for p in processors:
        state = dbc.Badge(p["state"], color=STATE_COLOURS.get(p["state"], "secondary"))
        published = "in this process" if p.get("in_process") else f"{age(p.get('age_s'))} ago"
        name = f"{p['name']} ({p['mode']})" if p.get("mode") else p["name"]
        cells = [name, state, published, _fmt(p.get("events_per_s")), _fmt(p.get("lag")), _fmt(p.get("batches"))]
        rows.append(html.Tr([html.Td(c) for c in cells]))
        if p.get("rules_lag"):  # alerts for these are still to come
            behind = f"rules: {p['rules_lag']:,} events not yet checked against zones and alert rules"
            rows.append(html.Tr(html.Td(behind, colSpan=6, className="small text-warning-emphasis")))
        if p.get("last_error"):
            rows.append(html.Tr(html.Td(f"last error: {p['last_error']}", colSpan=6, className="small text-danger")))
    return dbc.Table([head, html.Tbody(rows)], size="sm", responsive=True)


def stream_table(accounting: dict[str, Any] | None, now_ms: float | None = None) -> Component:
    """Per-stream rate, lag, counters and newest event, from the pipeline's accounting."""
    if not accounting or "streams" not in accounting:
        return dbc.Alert(NO_PIPELINE, color="secondary", className="py-2")
    rates: dict[str, float] = accounting.get("rates_per_s") or {}
    lag: dict[str, int] | None = accounting.get("lag")
    head = html.Thead(
        html.Tr(
            [
                html.Th("Stream"),
                html.Th("events/s"),
                html.Th("lag"),
                *[html.Th(c.replace("_", " ")) for c in STREAM_COLUMNS],
                html.Th("newest event"),
            ]
        )
    )
    body = []
    for name, c in accounting["streams"].items():
        newest = c.get("last_event_ms")
        ago = age((now_ms - newest) / 1000) + " ago" if newest and now_ms is not None else "–"
        body.append(
            html.Tr(
                [
                    html.Td(name),
                    html.Td(_fmt(rates.get(name))),
                    html.Td(_fmt(lag.get(name) if lag is not None else None)),
                    *[html.Td(_fmt(c.get(k))) for k in STREAM_COLUMNS],
                    html.Td(ago),
                ]
            )
        )
    totals = accounting.get("totals", {})
    total_rate = round(sum(rates.values()), 1) if rates else None
    total_lag = sum(lag.values()) if lag is not None else None
    body.append(
        html.Tr(
            [
                html.Th("total"),
                html.Th(_fmt(total_rate)),
                html.Th(_fmt(total_lag)),
                *[html.Th(_fmt(totals.get(k))) for k in STREAM_COLUMNS],
                html.Th(""),
            ]
        )
    )
    latency = accounting.get("latency_ms") or {}
    extra = html.P(
        f"event → speed layer p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms · "
        f"batches {accounting.get('batches')} · speed-layer errors {accounting.get('speed_layer_errors')} · "
        f"lake errors {accounting.get('lake_errors')}"
        + (f" · last error: {accounting['last_error']}" if accounting.get("last_error") else ""),
        className="small text-body-secondary",
    )
    return html.Div([dbc.Table([head, html.Tbody(body)], size="sm", responsive=True), extra])


def unread_topic_table(topics: list[dict[str, Any]] | None) -> Component | None:
    """The Kafka topics with messages that no stream reads (a producer writing to a misspelt
    topic, say); None when no processor looks at the cluster (the embedded mode)."""
    if topics is None:
        return None
    if not topics:
        return html.P("Every Kafka topic with messages is read by a stream.", className="small text-body-secondary")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Topic", "messages", "messages/s")]))
    rows = [
        html.Tr([html.Td(str(t["topic"])), html.Td(f"{t['messages']:,}"), html.Td(_fmt(t.get("messages_per_s")))])
        for t in topics
    ]
    note = "Messages on these topics reach no stream: set SMARTCITY_TOPICS_<STREAM> to read them, or fix the producer."
    return html.Div(
        [html.P(note, className="small text-warning-emphasis"), dbc.Table([head, html.Tbody(rows)], size="sm")]
    )


def clock_table(devices: list[dict[str, Any]] | None, tz: tzinfo = UTC) -> Component | None:
    """Devices whose clocks ran ahead past the tolerance (their events were kept at the time they
    arrived, their own time stored beside it; seen at, in ``tz``); None when there are none."""
    if not devices:
        return None
    seen = chart.label("Seen", tz)
    head = html.Thead(html.Tr([html.Th(h) for h in ("Device", "Stream", "Clock ahead by", seen)]))
    rows = [
        html.Tr(
            [
                html.Td(str(d["device_id"])),
                html.Td(str(d["stream"])),
                html.Td(age(d["skew_s"])),
                html.Td(chart.clock(d["seen_ms"], tz)),
            ]
        )
        for d in devices
    ]
    note = "These devices' clocks run ahead: their events are kept at the time they arrived. Set their clocks (NTP)."
    return html.Div(
        [html.P(note, className="small text-warning-emphasis"), dbc.Table([head, html.Tbody(rows)], size="sm")]
    )


def dead_letter_table(letters: list[dict[str, Any]] | None, tz: tzinfo = UTC) -> Component:
    """The newest dead letters: when (in ``tz``), which stream, why, from where, and the start of
    the payload."""
    if not letters:
        return html.P("No dead letters recorded.", className="small text-body-secondary")
    received = chart.label("Received", tz)
    head = html.Thead(html.Tr([html.Th(h) for h in (received, "Stream", "Reason", "Source", "Payload")]))
    rows = [
        html.Tr(
            [
                html.Td(chart.clock(d["received_ms"], tz)),
                html.Td(str(d.get("stream", ""))),
                html.Td(str(d.get("reason", ""))),
                html.Td(str(d.get("source", ""))),
                html.Td(html.Code(str(d.get("raw", "")), className="text-break")),
            ]
        )
        for d in letters
    ]
    return dbc.Table([head, html.Tbody(rows)], size="sm", responsive=True, className="small")


def hook_rules(rules: list[str] | None, names: dict[str, str] | None) -> str:
    """The rules a hook takes alerts of, by name (``names``: rule id -> name); a rule deleted
    since as ``deleted rule (<id>)``; ``every rule`` for a hook that names none."""
    if rules is None:
        return "every rule"
    return ", ".join((names or {}).get(r) or f"deleted rule ({r})" for r in rules)


def webhook_panel(hooks: list[dict[str, Any]] | None, dead: list[dict[str, Any]] | None, tz: tzinfo = UTC,
                  rules: dict[str, str] | None = None) -> Component:  # fmt: skip
    """Each webhook's rules and delivery status and the latest deliveries given up
    (``Webhooks.listing`` and ``Webhooks.dead_letters``; times in ``tz``; ``rules``: rule id ->
    name); None for both: the store did not answer. A hook shows as its URL's scheme and host:
    the path of some services' hook URLs is itself a secret."""
    if hooks is None:
        return dbc.Alert("Webhooks: the speed layer does not answer.", color="warning", className="py-2")
    if not hooks:
        return html.P("No webhooks: alerts are not sent anywhere (POST /api/webhooks adds one).",
                      className="small text-body-secondary")  # fmt: skip
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "Webhook", "Rules", "Min. severity", "Delivered", "Failed", "Retried", chart.label("Last try", tz),
        "Last result")]))  # fmt: skip
    rows = []
    names = {}
    for h in hooks:
        st = h["status"]
        names[h["id"]] = f"{origin(h['url'])} ({h['id'][:8]})"
        outcome = st.get("last_outcome")
        result: list[Any] = [dbc.Badge(outcome, color=OUTCOME_COLOURS.get(outcome, "secondary"))] if outcome else ["–"]
        detail = " ".join(str(x) for x in (st.get("last_status"), st.get("last_error")) if x)
        if detail:
            result.append(f" {detail}")
        cells = [names[h["id"]], hook_rules(h.get("rules"), rules), h["min_severity"], st["delivered"], st["failed"],
                 st["failed_attempts"], chart.clock_or(st.get("last_at"), tz), result]  # fmt: skip
        rows.append(html.Tr([html.Td(c) for c in cells]))
    parts: list[Component] = [dbc.Table([head, html.Tbody(rows)], size="sm", responsive=True, className="small")]
    if not dead:
        parts.append(html.P("No webhook dead letters.", className="small text-body-secondary"))
        return html.Div(parts)
    dead_head = html.Thead(html.Tr([html.Th(h) for h in (chart.label("Given up", tz), "Webhook", "Alert", "Tries",
                                                          "Last error")]))  # fmt: skip
    dead_rows = []
    for d in dead:
        alert: dict[str, Any] = d["alert"] if isinstance(d.get("alert"), dict) else {}
        what = f"{alert.get('severity', '?')} {alert.get('kind', '?')}: {alert.get('message', alert.get('id', ''))}"
        cells = [chart.clock_or(d.get("at"), tz), names.get(d["hook"], f"deleted ({d['hook'][:8]})"), what,
                 str(d.get("attempts")), str(d.get("error", ""))]  # fmt: skip
        dead_rows.append(html.Tr([html.Td(c) for c in cells]))
    parts += [html.H6("Webhook dead letters"),
              dbc.Table([dead_head, html.Tbody(dead_rows)], size="sm", responsive=True, className="small")]  # fmt: skip
    return html.Div(parts)


def live_counters() -> Component:
    """The counters drawn in the browser from the live message (marked when stale)."""
    items = [html.Li([f"{label}: ", html.Span("–", id=cid)]) for cid, label in LIVE_COUNTERS]
    return html.Div(
        [html.H6(["Live", html.Span(className="stale-note")]), html.Ul(items, className="mb-2")],
        id=ids.SYSTEM_LIVE,
        className="live-figure",
    )


def layout() -> Component:
    return html.Div(
        [
            live_counters(),
            dbc.Row(
                [
                    dbc.Col([html.H6("Status"), html.Div(id=ids.SYSTEM_STATUS)], lg=4, xs=12),
                    dbc.Col([html.H6("Streams"), html.Div(id=ids.SYSTEM_STREAMS)], lg=8, xs=12),
                ],
                className="g-2",
            ),
            html.H6("Webhooks"),
            html.Div(id=WEBHOOKS),
            *REFRESH.components(),  # the status's clock, ticking while the tab is shown
            *([zones.rules_section()] if session.get("role") == "admin" else []),  # alert rules: admins
        ]
    )


def render(system: dict[str, Any] | None, tz: tzinfo = UTC) -> tuple[Component, Component]:
    """The tab's two columns for one ``feed.system_status``, times in ``tz``."""
    s = system or {}
    acc = s.get("accounting") or {}
    status = html.Div([status_list(s), html.H6("Processors"), processor_table(acc.get("processors"))])
    streams: list[Component] = [stream_table(acc, s.get("now_ms"))]
    unread = unread_topic_table(acc.get("unread_topics"))
    if unread is not None:
        streams += [html.H6("Unread Kafka topics"), unread]
    clocks = clock_table(acc.get("clocks_ahead"), tz)
    if clocks is not None:
        streams += [html.H6("Devices with clocks ahead"), clocks]
    streams += [html.H6("Latest dead letters"), dead_letter_table(s.get("dead_letters"), tz)]
    return status, html.Div(streams)


@callback(
    Output(ids.SYSTEM_STATUS, "children"),
    Output(ids.SYSTEM_STREAMS, "children"),
    Input(ids.SYSTEM_RECENT, "data"),
    Input(chart.UTC_SWITCH, "value"),
    prevent_initial_call=True,
)
def _render(_: dict[str, Any] | None, utc: bool | None) -> tuple[Component, Component]:
    now_ms = time.time() * 1000
    return render(feed.system_status(store(), now_ms, feed.accounting()), chart.zone(utc))


def read_webhooks() -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    """The webhooks with their status and the latest dead letters; (None, None) while the store is away."""
    hooks = webhooks()
    try:
        return hooks.listing(), hooks.dead_letters(WEBHOOK_DEAD_LETTERS)
    except redis.RedisError:
        return None, None


def rule_names() -> dict[str, str]:
    """Rule id -> name, for the webhooks' rules ({} while the store is away: ids are shown)."""
    try:
        return {rule_id: str(rule.get("name") or rule_id) for rule_id, rule in rule_book().load().rules.items()}
    except redis.RedisError:
        return {}


@callback(
    Output(WEBHOOKS, "children"),
    Input(ids.SYSTEM_RECENT, "data"),
    Input(chart.UTC_SWITCH, "value"),
    prevent_initial_call=True,
)
def _render_webhooks(_: dict[str, Any] | None, utc: bool | None) -> Component:
    hooks, dead = read_webhooks()
    return webhook_panel(hooks, dead, chart.zone(utc), rule_names() if hooks else None)
