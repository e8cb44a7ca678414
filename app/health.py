"""Pipeline health as the console, ``/api/health``, ``/api/system`` and ``/metrics`` report it.

Processors publish their status to the speed layer (``pipeline.accounting.StatusPublisher``):
the embedded processor and the Spark job's driver alike, so that a console running alone
(gunicorn, several processes) reads the same health as the one-process demo, which may also
hand its processor's status in directly (fresher by up to a second). Reads are O(result).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask
from pyarrow import fs as pafs

from app.store import Store
from pipeline.accounting import combine

STALE_AFTER_S = 5.0  # processors publish every second: this late means stuck or gone
KINDS = {"last_v": "vehicles", "last_t": "traffic", "last_w": "weather", "last_i": "incidents"}
DEAD_LETTERS_SHOWN = 20


def processors(st: Store, now_ms: float, in_process: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every known processor: ``name``, ``mode``, ``state`` (running, stale, stopped or gone),
    ``age_s`` since it last published, ``in_process`` and its ``status`` (None once gone)."""
    found: list[dict[str, Any]] = []
    mine = None
    if in_process is not None:
        mine = in_process.get("name", "this process")
        found.append(_entry(mine, in_process, "running", 0.0, True))
    try:
        published = st.processors()
    except redis.RedisError:
        published = []
    for p in published:
        if p["name"] == mine:
            continue
        status, age = p["status"], max(0.0, (now_ms - p["published_ms"]) / 1000)
        if status is None:
            state = "gone"
        elif status.get("state") == "stopped":
            state = "stopped"
        else:
            state = "stale" if age > STALE_AFTER_S else "running"
        found.append(_entry(p["name"], status, state, age, False))
    return found


def _entry(name: str, status: dict[str, Any] | None, state: str, age_s: float, here: bool) -> dict[str, Any]:
    s = status or {}
    return {"name": name, "mode": s.get("mode", ""), "state": state, "age_s": round(age_s, 1), "in_process": here,
            "status": status}  # fmt: skip


def pipeline_accounting(st: Store, in_process: dict[str, Any] | None, now_ms: float) -> dict[str, Any] | None:
    """The pipeline's counters (every processor still publishing, summed; see
    ``pipeline.accounting.combine``) with ``processors``: one line each, gone ones included.
    None when no processor is known."""
    procs = processors(st, now_ms, in_process)
    if not procs:
        return None
    acc = combine(p["status"] for p in procs if p["status"] is not None) or {}
    acc["processors"] = [_line(p) for p in procs]
    return acc


def _line(p: dict[str, Any]) -> dict[str, Any]:
    s = p["status"] or {}
    totals, lag, rates = s.get("totals") or {}, s.get("lag"), s.get("rates_per_s")
    return {
        "name": p["name"],
        "mode": p["mode"],
        "state": p["state"],
        "age_s": p["age_s"],
        "in_process": p["in_process"],
        "batches": s.get("batches"),
        "received": totals.get("received"),
        "dead_letters": totals.get("dead_letters"),
        "events_per_s": round(sum(rates.values()), 1) if rates else None,
        "lag": sum(lag.values()) if lag is not None else None,
        "rules_lag": s.get("rules_lag"),  # events in the speed layer its rule engine has not checked yet
        "last_error": s.get("last_error", ""),
    }


def data_age(summary: dict[str, Any], now_ms: float) -> dict[str, float]:
    """Seconds since the newest event of each kind (vehicles, traffic, weather, incidents)."""
    return {KINDS.get(k, k): round((now_ms - ts) / 1000, 1) for k, ts in summary["last_event_ms"].items() if ts}


class LakeProbe:
    """Whether the lake answers (one listing of its root), remembered for ``every_s``, so that
    health checks and System tabs polling each second cost S3 one request every few seconds."""

    def __init__(self, filesystem: pafs.FileSystem, root: str, every_s: float = 5.0) -> None:
        self.fs, self.root, self.every_s = filesystem, root, every_s
        self._checked: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def check(self) -> dict[str, Any]:
        """``{"reachable": bool, "error": str}``."""
        with self._lock:
            if self._checked is not None and time.monotonic() - self._checked[0] < self.every_s:
                return self._checked[1]
            try:
                self.fs.get_file_info(self.root)
                result = {"reachable": True, "error": ""}
            except Exception as exc:  # pyarrow raises OSError and its own errors for an S3 that is down
                result = {"reachable": False, "error": str(exc)[:300]}
            self._checked = (time.monotonic(), result)
            return result


def lake_probe(app: Flask) -> LakeProbe:
    """This app's lake probe (created on first use)."""
    probe: LakeProbe | None = app.extensions.get("smartcity.lake_probe")
    if probe is None:
        probe = app.extensions["smartcity.lake_probe"] = LakeProbe(*app.extensions["smartcity.lake"])
    return probe


def lake_status(probe: LakeProbe, acc: dict[str, Any] | None, now_ms: float) -> dict[str, Any]:
    """Lake reachability, and from the processors: when rows last landed, write errors."""
    written = (acc or {}).get("lake_written_ms") or None
    return probe.check() | {
        "last_write_age_s": round((now_ms - written) / 1000, 1) if written else None,
        "errors": (acc or {}).get("lake_errors"),
    }


def speed_layer_status(ok: bool, acc: dict[str, Any] | None, now_ms: float) -> dict[str, Any]:
    """Whether this server reaches the speed layer, and from the processors: events waiting
    to be applied since an outage began, events it never got (the lake has them)."""
    a = acc or {}
    since = a.get("speed_layer_down_since_ms") or 0
    return {
        "ok": ok,
        "pending_events": a.get("speed_layer_pending", 0),
        "dropped_events": a.get("speed_layer_dropped", 0),
        "unreachable_for_s": round(max(0.0, now_ms - since) / 1000, 1) if since else None,
    }


def system(
    st: Store, now_ms: float, acc: dict[str, Any] | None, probe: LakeProbe, ws_clients: int | None
) -> dict[str, Any]:
    """What the System tab and ``GET /api/system`` show (JSON-friendly). ``acc`` is
    ``pipeline_accounting``'s; ``ws_clients`` counts this server process's sockets."""
    ok = st.ping()
    return {
        "now_ms": now_ms,
        "store_ok": ok,
        "speed_layer": speed_layer_status(ok, acc, now_ms),
        "accounting": acc,
        "data_age_s": data_age(st.summary(), now_ms) if ok else {},
        "dead_letters": st.dead_letters(DEAD_LETTERS_SHOWN) if ok else [],
        "lake": lake_status(probe, acc, now_ms),
        "ws_clients": ws_clients,
    }


def health(st: Store, now_ms: float, in_process: dict[str, Any] | None, probe: LakeProbe) -> tuple[dict[str, Any], int]:
    """``/api/health``'s body and status code: 503 only when the speed layer is unreachable;
    "degraded" also when the lake does not answer, every known processor stopped
    publishing, or no vehicle reported for the speed layer's active window (a city whose
    vehicles all left the map)."""
    ok = st.ping()
    acc = pipeline_accounting(st, in_process, now_ms)  # this process's own even while Redis is away
    freshness = data_age(st.summary(), now_ms) if ok else {}
    procs = (acc or {}).get("processors") or []
    pipeline_ok = any(p["state"] == "running" for p in procs) if procs else None
    lake = lake_status(probe, acc, now_ms)
    stale = freshness.get("vehicles", 0) > st.windows().active_s
    healthy = ok and lake["reachable"] and pipeline_ok is not False and not stale
    lake_body = {"ok": lake["reachable"], "error": lake["error"], "last_write_age_seconds": lake["last_write_age_s"],
                 "errors": lake["errors"]}  # fmt: skip
    listed = [{"name": p["name"], "mode": p["mode"], "state": p["state"], "age_seconds": p["age_s"]} for p in procs]
    body = {
        "status": "ok" if healthy else "degraded",
        "components": {
            "speed_layer": speed_layer_status(ok, acc, now_ms),
            "lake": lake_body,
            "pipeline": {"ok": pipeline_ok, "processors": listed},
        },
        "data_age_seconds": freshness,
    }
    return body, 200 if ok else 503


def in_process(app: Flask) -> dict[str, Any] | None:
    """The status of a processor running in this process (``create_app(accounting=…)``)."""
    source: Callable[[], dict[str, Any]] | None = app.extensions.get("smartcity.accounting")
    return source() if source is not None else None


def ws_clients(app: Flask) -> int | None:
    """Live-update sockets open on this server process."""
    count: Callable[[], int] | None = app.extensions.get("smartcity.ws_clients")
    return count() if count is not None else None
