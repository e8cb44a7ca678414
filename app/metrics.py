"""``GET /metrics``: Prometheus text format, from the pipeline's accounting and the speed layer.

The accounting is the processors' as ``app.health.pipeline_accounting`` gives it: the one in
this process and those publishing to the speed layer, so a console alone serves it too.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app

from app import health
from app.api import store

bp = Blueprint("metrics", __name__)
_COUNTERS = ("received", "valid", "dead_letters", "speed_layer", "lake_rows")


def render(
    accounting: dict[str, Any] | None, summary: dict[str, Any] | None, ws_clients: int | None, ok: bool = True
) -> str:
    """The exposition text (a plain function, so tests need no server)."""
    lines: list[str] = []

    def metric(name: str, kind: str, doc: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {doc}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    if accounting and "streams" in accounting:
        streams = accounting["streams"]
        for key in _COUNTERS:
            samples = [(f'{{stream="{s}"}}', float(c[key])) for s, c in sorted(streams.items())]
            metric(f"smartcity_events_{key}_total", "counter", f"events per stream: {key.replace('_', ' ')}", samples)
        metric("smartcity_batches_total", "counter", "micro-batches processed", [("", accounting["batches"])])
        errors = [
            ('{sink="speed_layer"}', accounting["speed_layer_errors"]),
            ('{sink="lake"}', accounting["lake_errors"]),
        ]
        metric("smartcity_sink_errors_total", "counter", "failed writes (retried, nothing lost)", errors)
        for key, doc in (
            ("pending", "valid events kept for the speed layer while it is away"),
            ("dropped", "valid events the speed layer never got (the lake has them)"),
        ):
            metric(f"smartcity_speed_layer_{key}_events", "gauge" if key == "pending" else "counter", doc,
                   [("", accounting.get(f"speed_layer_{key}", 0))])  # fmt: skip
        lat = accounting["latency_ms"]
        quantiles = [(f'{{quantile="{q}"}}', lat[k] / 1000) for q, k in (("0.5", "p50"), ("0.99", "p99")) if lat[k]]
        metric("smartcity_event_to_speed_layer_seconds", "summary", "event produced -> state written", quantiles)
        if accounting.get("lag") is not None:
            lag = [(f'{{stream="{s}"}}', float(n)) for s, n in sorted(accounting["lag"].items())]
            metric("smartcity_events_waiting", "gauge", "events not yet processed per stream (consumer lag)", lag)
    if accounting and accounting.get("processors"):
        running = sum(1 for p in accounting["processors"] if p["state"] == "running")
        metric("smartcity_processors_running", "gauge", "processors publishing their status", [("", running)])
    metric("smartcity_speed_layer_up", "gauge", "1 when this server reaches the speed layer", [("", float(ok))])
    if summary:
        metric("smartcity_active_vehicles", "gauge", "vehicles seen within the active window",
               [("", summary["active_vehicles"])])  # fmt: skip
        metric("smartcity_active_incidents", "gauge", "incidents not resolved", [("", summary["active_incidents"])])
        metric(
            "smartcity_congested_segments", "gauge", "segments heavy or severe", [("", summary["congested_segments"])]
        )
    if ws_clients is not None:
        metric("smartcity_websocket_clients", "gauge", "open live-update sockets", [("", ws_clients)])
    return "\n".join(lines) + "\n"


@bp.get("/metrics")
def metrics() -> Response:
    st = store()
    ok = st.ping()
    summary = st.summary() if ok else None
    accounting = health.pipeline_accounting(st, health.in_process(current_app), time.time() * 1000)
    body = render(accounting, summary, health.ws_clients(current_app), ok)
    return Response(body, mimetype="text/plain; version=0.0.4")
