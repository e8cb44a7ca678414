"""``/ws/realtime``: live deltas of the city pushed to browsers and API clients.

One ``Hub`` per process follows the speed layer's change stream (so pushes work when the
console runs as several processes) and, at most once a second, builds one delta: the
changed vehicles, incidents, traffic sensors and the summary. Each socket has a
``Mailbox`` holding at most one pending delta: a client that reads slowly gets later
deltas merged into it (newest state per entity wins), so memory per client is bounded by
the size of the city, never by how far behind it is.

Messages: ``{"type": "snapshot" | "delta", "vehicles": [...], "incidents": [...],
"traffic": [...], "summary": {...}, "ts": epoch_ms}``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import orjson
import redis
from flask import Flask
from flask_sock import Sock

from app.auth import READ, current_role
from app.store import Store, typed

log = logging.getLogger(__name__)
INTERVAL_S = 1.0


def merge(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """One delta carrying both: per entity the newer state wins; the newer summary wins."""
    out: dict[str, Any] = {"type": "delta", "summary": newer.get("summary"), "ts": newer.get("ts")}
    for kind in ("vehicles", "incidents", "traffic"):
        by_id = {e["id"]: e for e in older.get(kind, [])}
        by_id.update({e["id"]: e for e in newer.get(kind, [])})
        out[kind] = list(by_id.values())
    return out


class Mailbox:
    """At most one pending message per client; later deltas merge into it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._delta: dict[str, Any] | None = None
        self._encoded: bytes | None = None  # the hub's bytes, reused while nothing was merged
        self.closed = False

    def put(self, delta: dict[str, Any], encoded: bytes) -> None:
        with self._cond:
            if self._delta is None:
                self._delta, self._encoded = delta, encoded
            else:
                self._delta, self._encoded = merge(self._delta, delta), None
            self._cond.notify()

    def take(self, timeout: float) -> bytes | None:
        with self._cond:
            if self._delta is None and not self.closed:
                self._cond.wait(timeout)
            delta, encoded = self._delta, self._encoded
            self._delta = self._encoded = None
        if delta is None:
            return None
        return encoded if encoded is not None else orjson.dumps(delta)


class Hub:
    """Follows the change stream and posts one delta a second to every mailbox."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._boxes: set[Mailbox] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_id = "$"
        self._snapshot: tuple[float, bytes] = (-INTERVAL_S, b"")
        self._snapshot_lock = threading.Lock()

    @property
    def clients(self) -> int:
        return len(self._boxes)

    def subscribe(self) -> Mailbox:
        box = Mailbox()
        with self._lock:
            self._boxes.add(box)
            if self._thread is None:  # started by the first client, never at import
                self._thread = threading.Thread(target=self._run, name="smartcity-ws-hub", daemon=True)
                self._thread.start()
        return box

    def unsubscribe(self, box: Mailbox) -> None:
        with self._lock:
            self._boxes.discard(box)

    def snapshot_bytes(self) -> bytes:
        """The encoded snapshot, built at most once per interval however many clients connect
        (a burst of connections would otherwise read the whole city once per client)."""
        with self._snapshot_lock:
            built_at, encoded = self._snapshot
            if time.monotonic() - built_at >= INTERVAL_S:
                encoded = orjson.dumps(self.snapshot())
                self._snapshot = (time.monotonic(), encoded)
            return encoded

    def snapshot(self) -> dict[str, Any]:
        st = self.store
        return {
            "type": "snapshot",
            "vehicles": st.vehicle_locations(limit=20_000),
            "incidents": st.incidents("all", 500),
            "traffic": st.traffic(),
            "summary": st.summary(),
            "ts": int(time.time() * 1000),
        }

    def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                delta = self._collect()
            except redis.RedisError as exc:
                log.warning("live updates paused: %s", exc)
                time.sleep(INTERVAL_S)
                continue
            if delta is not None:
                encoded = orjson.dumps(delta)
                with self._lock:
                    boxes = list(self._boxes)
                for box in boxes:
                    box.put(delta, encoded)
            time.sleep(max(0.0, INTERVAL_S - (time.monotonic() - started)))

    def _collect(self) -> dict[str, Any] | None:
        st = self.store
        changed: dict[str, set[str]] = {"v": set(), "t": set(), "i": set()}
        streams: Any = st.client.xread({st.keys.changes: self._last_id}, count=1000, block=int(INTERVAL_S * 1000))
        for _, entries in streams or []:
            for entry_id, fields in entries:
                self._last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                for kind in changed:
                    raw = fields.get(kind.encode(), b"[]")
                    ids = orjson.loads(raw)
                    if isinstance(ids, list):  # Lua encodes an empty list as {}
                        changed[kind].update(ids)
        if not any(changed.values()):
            return None
        return {
            "type": "delta",
            "vehicles": st.vehicles(changed["v"]),
            "incidents": [typed(s) for s in st.speed.states("i", sorted(changed["i"]))],
            "traffic": [typed(s) for s in st.speed.states("t", sorted(changed["t"]))],
            "summary": st.summary(),
            "ts": int(time.time() * 1000),
        }


def init_ws(app: Flask, store: Store) -> Hub:
    hub = Hub(store)
    app.extensions["smartcity.hub"] = hub
    app.extensions["smartcity.ws_clients"] = lambda: hub.clients
    sock = Sock(app)

    @sock.route("/ws/realtime")
    def realtime(ws: Any) -> None:
        if current_role() not in READ:  # anonymous sockets get nothing
            ws.close(reason=1008, message="authentication required")
            return
        box = hub.subscribe()
        try:
            ws.send(hub.snapshot_bytes().decode())
            while True:
                message = box.take(timeout=INTERVAL_S * 5)
                if message is not None:
                    ws.send(message.decode())
                elif not ws.connected:
                    break
        except Exception as exc:
            log.debug("websocket closed: %s", exc)
        finally:
            box.closed = True
            hub.unsubscribe(box)

    return hub
