"""``/ws/realtime``: live deltas of the city pushed to browsers and API clients.

One ``Hub`` per process follows the speed layer's change stream (so pushes work when the
console runs as several processes) and, at most once a second, builds one delta: the
changed vehicles, incidents, traffic sensors and the summary. Each socket has a
``Mailbox`` holding at most one pending delta: a client that reads slowly gets later
deltas merged into it (newest state per entity wins), so memory per client is bounded by
the size of the city, never by how far behind it is.

Messages: ``{"type": "snapshot" | "delta", "event_ms": newest vehicle event (epoch ms),
"vehicle_fields": [...], "vehicles": [[...], ...], "incidents": [...], "traffic": [...],
"summary": {...}, "ts": epoch_ms}``. Vehicles travel as rows whose columns
``vehicle_fields`` names (5,000 moving vehicles a second are most of the bytes; rows halve
them); incidents and traffic sensors as objects. ``?encoding=gzip``: the same JSON, gzipped,
in binary frames.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from typing import Any

import orjson
import redis
from flask import Flask, request
from flask_sock import Sock

from app.auth import READ, current_role
from app.store import Store, typed
from pipeline.speed_layer import VEHICLE_ROW

log = logging.getLogger(__name__)
INTERVAL_S = 1.0  # at most one delta a second per client
SETTLE_S = 0.02  # a write burst is over when the change stream was quiet this long
MAX_HOLD_S = 0.25  # longest a change waits for its burst to settle


def message(kind: str, vehicles: list[list[Any]], **rest: Any) -> dict[str, Any]:
    """A push message; ``vehicles`` are rows with the columns ``VEHICLE_ROW``."""
    newest = max((row[1] for row in vehicles), default=None)
    return {"type": kind, "event_ms": newest, "vehicle_fields": VEHICLE_ROW, "vehicles": vehicles, **rest}


def merge(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """One delta carrying both: per entity the newer state wins; the newer summary wins."""
    rows = {row[0]: row for row in older.get("vehicles", [])}
    rows.update({row[0]: row for row in newer.get("vehicles", [])})
    out = message("delta", list(rows.values()), summary=newer.get("summary"), ts=newer.get("ts"))
    for kind in ("incidents", "traffic"):
        by_id = {e["id"]: e for e in older.get(kind, [])}
        by_id.update({e["id"]: e for e in newer.get(kind, [])})
        out[kind] = list(by_id.values())
    return out


def frame(payload: bytes, binary: bool = False) -> bytes:
    """One unfragmented, unmasked server frame (RFC 6455 5.2): the same bytes suit every
    client, so a delta is framed once per process, not once per socket."""
    n = len(payload)
    head = bytes([0x82 if binary else 0x81])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


class Frames:
    """One message and its frames per encoding, built on first use and shared by every client.

    ``text``: JSON in a text frame (the default). ``gzip``: the same JSON gzipped in a binary
    frame, a quarter of the bytes, for clients that ask (the console does, and inflates it
    with the browser's DecompressionStream)."""

    def __init__(self, msg: dict[str, Any]) -> None:
        self.msg = msg
        self._frames: dict[str, bytes] = {}

    def get(self, encoding: str) -> bytes:
        built = self._frames.get(encoding)
        if built is None:  # two threads may both build it: harmless, same bytes
            payload = orjson.dumps(self.msg)
            built = frame(gzip.compress(payload, 1), binary=True) if encoding == "gzip" else frame(payload)
            self._frames[encoding] = built
        return built


class Mailbox:
    """At most one pending message per client; later deltas merge into it."""

    def __init__(self, encoding: str = "text") -> None:
        self.encoding = encoding
        self._cond = threading.Condition()
        self._pending: Frames | None = None
        self.closed = False

    def put(self, frames: Frames) -> None:
        with self._cond:
            if self._pending is None:
                self._pending = frames  # the hub's frames, shared while nothing was merged
            else:
                self._pending = Frames(merge(self._pending.msg, frames.msg))
            self._cond.notify()

    def take(self, timeout: float) -> bytes | None:
        """The pending message as a frame in this client's encoding (None after the timeout)."""
        with self._cond:
            if self._pending is None and not self.closed:
                self._cond.wait(timeout)
            pending, self._pending = self._pending, None
        return None if pending is None else pending.get(self.encoding)


class Hub:
    """Follows the change stream and posts one delta a second to every mailbox."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._boxes: set[Mailbox] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_id = "$"
        self._snapshot: tuple[float, Frames | None] = (-INTERVAL_S, None)
        self._snapshot_lock = threading.Lock()

    @property
    def clients(self) -> int:
        return len(self._boxes)

    def subscribe(self, encoding: str = "text") -> Mailbox:
        box = Mailbox(encoding)
        with self._lock:
            self._boxes.add(box)
            if self._thread is None:  # started by the first client, never at import
                self._thread = threading.Thread(target=self._run, name="smartcity-ws-hub", daemon=True)
                self._thread.start()
        return box

    def unsubscribe(self, box: Mailbox) -> None:
        with self._lock:
            self._boxes.discard(box)

    def snapshot_frames(self) -> Frames:
        """The snapshot, built at most once per interval however many clients connect
        (a burst of connections would otherwise read the whole city once per client)."""
        with self._snapshot_lock:
            built_at, frames = self._snapshot
            if frames is None or time.monotonic() - built_at >= INTERVAL_S:
                frames = Frames(self.snapshot())
                self._snapshot = (time.monotonic(), frames)
            return frames

    def snapshot(self) -> dict[str, Any]:
        st = self.store
        return message(
            "snapshot",
            orjson.loads(st.speed.vehicle_rows(limit=20_000)),
            incidents=st.incidents("all", 500),
            traffic=st.traffic(),
            summary=st.summary(),
            ts=int(time.time() * 1000),
        )

    def _run(self) -> None:
        """Follow the change stream; post a delta once the interval has passed and the write
        burst that changed things has settled (one micro-batch arrives as several script
        calls), so deltas leave right after the data lands, never more than once a second."""
        changed: dict[str, set[str]] = {"v": set(), "t": set(), "i": set()}
        last_sent = -INTERVAL_S
        pending_since: float | None = None
        while True:
            if pending_since is None:
                block = INTERVAL_S
            else:
                block = max(0.001, min(SETTLE_S, INTERVAL_S - (time.monotonic() - last_sent)))
            try:
                got = self._read_changes(changed, block)
            except redis.RedisError as exc:
                log.warning("live updates paused: %s", exc)
                time.sleep(INTERVAL_S)
                continue
            now = time.monotonic()
            if got and pending_since is None:
                pending_since = now
            if pending_since is None or now - last_sent < INTERVAL_S:
                continue
            if got and now - pending_since < MAX_HOLD_S:
                continue  # still arriving: wait for the burst to end (bounded)
            try:
                delta = self._delta(changed)
            except redis.RedisError as exc:
                log.warning("live updates paused: %s", exc)
                continue
            frames = Frames(delta)  # encoded and framed once for every client
            with self._lock:
                boxes = list(self._boxes)
            for box in boxes:
                box.put(frames)
            last_sent, pending_since = now, None
            changed = {"v": set(), "t": set(), "i": set()}

    def _read_changes(self, changed: dict[str, set[str]], block_s: float) -> bool:
        """Add the ids named by new change notifications; False when none came within block_s."""
        st = self.store
        streams: Any = st.client.xread({st.keys.changes: self._last_id}, count=1000, block=int(block_s * 1000))
        got = False
        for _, entries in streams or []:
            for entry_id, fields in entries:
                got = True
                self._last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                for kind in changed:
                    ids = orjson.loads(fields.get(kind.encode(), b"[]"))
                    if isinstance(ids, list):  # Lua encodes an empty list as {}
                        changed[kind].update(ids)
        return got

    def _delta(self, changed: dict[str, set[str]]) -> dict[str, Any]:
        st = self.store
        return message(
            "delta",
            orjson.loads(st.speed.vehicle_rows(sorted(changed["v"]))),
            incidents=[typed(s) for s in st.speed.states("i", sorted(changed["i"]))],
            traffic=[typed(s) for s in st.speed.states("t", sorted(changed["t"]))],
            summary=st.summary(),
            ts=int(time.time() * 1000),
        )


class WholeSends:
    """A socket whose ``send`` writes everything, one frame at a time.

    simple-websocket 1.1.0 writes each frame with one ``socket.send``, which may send only
    part of a large frame (under gevent it does once the client's buffer is full), leaving
    the stream corrupt (simple-websocket#45). Its own reader thread also writes (pongs,
    close), so writes are serialised here as well.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


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
        encoding = "gzip" if request.args.get("encoding") == "gzip" else "text"
        sock = ws.sock = WholeSends(ws.sock)  # simple-websocket's own writes go through it too
        box = hub.subscribe(encoding)
        try:
            sock.send(hub.snapshot_frames().get(encoding))
            while ws.connected:
                message = box.take(timeout=INTERVAL_S * 5)
                if message is not None:
                    sock.send(message)
        except Exception as exc:
            log.debug("websocket closed: %s", exc)
        finally:
            box.closed = True
            hub.unsubscribe(box)

    return hub
