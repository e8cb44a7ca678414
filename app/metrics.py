"""``GET /metrics``: Prometheus text format, from the processor's accounting and the speed layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app

from app.api import store

bp = Blueprint("metrics", __name__)
_COUNTERS = ("received", "valid", "dead_letters", "speed_layer", "lake_rows")


def render(accounting: dict[str, Any] | None, summary: dict[str, Any] | None, ws_clients: int | None) -> str:
    """The exposition text (a plain function, so tests need no server)."""
    lines: list[str] = []

    def metric(name: str, kind: str, doc: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {doc}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    if accounting:
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
        lat = accounting["latency_ms"]
        quantiles = [(f'{{quantile="{q}"}}', lat[k] / 1000) for q, k in (("0.5", "p50"), ("0.99", "p99")) if lat[k]]
        metric("smartcity_event_to_speed_layer_seconds", "summary", "event produced -> state written", quantiles)
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
    accounting: Callable[[], dict[str, Any]] | None = current_app.extensions.get("smartcity.accounting")
    st = store()
    summary = st.summary() if st.ping() else None
    clients: Callable[[], int] | None = current_app.extensions.get("smartcity.ws_clients")
    body = render(accounting() if accounting else None, summary, clients() if clients else None)
    return Response(body, mimetype="text/plain; version=0.0.4")
