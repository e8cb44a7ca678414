"""The push hub: one live message of the city, built once, delivered to every client's mailbox.

One ``Hub`` per process follows the speed layer's change stream (``pipeline.changes``, through
the ``Store``: the hub makes no Redis call of its own, so pushes work when the console runs as
several processes) and, at most once a second, builds one delta: the changed vehicles,
incidents, traffic sensors, weather stations and the summary. Each client has a ``Mailbox``
holding at most one pending delta: a client that reads slowly gets later deltas merged into it
(newest state per entity wins), so memory per client is bounded by the size of the city, never
by how far behind it is. A new client's snapshot takes its vehicles from the fleet the hub has
sent (``Hub``), so it costs no read of the whole fleet.

Messages: ``{"type": "snapshot" | "delta", "event_ms": newest vehicle event (epoch ms),
"oldest_ms": oldest vehicle event, "ts": the server's clock when the message was built,
"vehicle_fields": [...], "vehicles": [[...], ...], "incidents": [...], "traffic": [...],
"weather": [...], "summary": {...}}``, and ``{"type": "status", "ts": ..., "error": ...}``.

Honest about silence: a delta goes at least every ``live_model.HEARTBEAT_S`` even when nothing
changed (no entities, the summary and ``ts``), so a client can tell a quiet city from a dead
socket; when the speed layer stops answering every client gets one ``status`` message saying so,
and when it answers again a fresh snapshot.
Vehicles travel as rows whose columns ``vehicle_fields`` names (``live_model.VEHICLE_ROW``);
incidents, traffic sensors and weather stations as objects. The same message serves the socket
(``app.ws``) and the poll (``GET /api/live``).
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis

from app.fleet import FleetRows
from app.store import Store
from pipeline.backlog import REDIS_ERRORS
from pipeline.changes import nothing_changed
from pipeline.live_model import HEARTBEAT_S, VEHICLE_ROW

log = logging.getLogger(__name__)
INTERVAL_S = 1.0  # at most one delta a second per client
MIN_GAP_S = 0.75  # a late delta may follow the previous one this soon (see Pace)
IDLE_S = 120.0  # the hub stops following the city this long after its last client or poll left
UNREACHABLE = "speed layer unreachable"


def now_ms() -> int:
    """The server's clock (epoch ms): what ``ts`` says in every message."""
    return int(time.time() * 1000)


def message(kind: str, vehicles: list[list[Any]], ts: int | None = None, **rest: Any) -> dict[str, Any]:
    """A push message; ``vehicles`` are rows with the columns ``VEHICLE_ROW``. The head
    carries the newest and oldest vehicle event it holds and when it was built (the server's
    clock; epoch ms), so a client can tell from the first bytes how old its data is (readers
    match this head's order)."""
    stamps = [row[1] for row in vehicles if row[1] is not None]
    return {"type": kind, "event_ms": max(stamps, default=None), "oldest_ms": min(stamps, default=None), "ts": ts,
            "vehicle_fields": VEHICLE_ROW, "vehicles": vehicles, **rest}  # fmt: skip


def status(error: str, ts: int | None = None) -> dict[str, Any]:
    """A message saying what is wrong (no data follows until it is right again)."""
    return {"type": "status", "ts": now_ms() if ts is None else ts, "error": error}


def merge(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """One message carrying both: per entity the newer state wins; the newer summary wins.
    A snapshot or status replaces whatever was pending; a delta merged into a snapshot leaves a
    snapshot (the whole city, newer), into a status the delta alone."""
    if newer["type"] != "delta" or older["type"] == "status":
        return newer
    rows = {row[0]: row for row in older.get("vehicles", [])}
    rows.update({row[0]: row for row in newer.get("vehicles", [])})
    out = message(older["type"], list(rows.values()), summary=newer.get("summary"), ts=newer.get("ts"))
    for kind in ("incidents", "traffic", "weather"):
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


class Pace:
    """At most one send per ``interval`` on average, never two closer than ``min_gap``.

    A strict "a second since the last send" gate cannot keep up with a source that also
    changes once a second: each delta that left late (a slow write, a busy process) makes
    every later one wait for the gate, so lateness only ever accumulates. This is a token
    bucket instead: a token a second, at most ``burst`` held, one spent per send. A late
    delta is caught up by the next ones (sent ``min_gap`` apart) from the tokens saved, and
    over any T seconds a client gets at most T / interval + burst deltas.
    """

    def __init__(self, interval: float, min_gap: float, burst: float = 2.0) -> None:
        self.interval, self.min_gap, self.burst = interval, min_gap, burst
        self._tokens = burst
        self._at: float | None = None  # when the tokens were counted: the last send

    def _tokens_at(self, now: float) -> float:
        if self._at is None:
            return self._tokens
        return min(self.burst, self._tokens + (now - self._at) / self.interval)

    def wait(self, now: float) -> float:
        """Seconds until a send may go (0: now)."""
        if self._at is None:
            return 0.0
        return max(0.0, (1.0 - self._tokens_at(now)) * self.interval, self._at + self.min_gap - now)

    def spend(self, now: float) -> None:
        self._tokens, self._at = self._tokens_at(now) - 1.0, now


class Frames:
    """One message and its frames per encoding, built on first use and shared by every client.

    ``text``: JSON in a text frame (the default). ``gzip``: the same JSON gzipped in a binary
    frame, a quarter of the bytes, for clients that ask (the console does, and inflates it
    with the browser's DecompressionStream)."""

    def __init__(self, msg: dict[str, Any]) -> None:
        self.msg = msg
        self._frames: dict[str, bytes] = {}

    def json(self) -> bytes:
        """The message as JSON (what the poll fallback serves), encoded once."""
        payload = self._frames.get("json")
        if payload is None:
            payload = self._frames["json"] = orjson.dumps(self.msg)
        return payload

    def get(self, encoding: str) -> bytes:
        built = self._frames.get(encoding)
        if built is None:  # two threads may both build it: harmless, same bytes
            payload = self.json()
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
            if self._pending is None or frames.msg["type"] != "delta" or self._pending.msg["type"] == "status":
                self._pending = frames  # the hub's frames, shared while nothing was merged (see merge)
            else:
                self._pending = Frames(merge(self._pending.msg, frames.msg))
            self._cond.notify()

    def close(self) -> None:
        """End this client's stream: a waiting ``take`` returns at once."""
        with self._cond:
            self.closed = True
            self._cond.notify()

    def take(self, timeout: float) -> bytes | None:
        """The pending message as a frame in this client's encoding (None after the timeout)."""
        with self._cond:
            if self._pending is None and not self.closed:
                self._cond.wait(timeout)
            pending, self._pending = self._pending, None
        return None if pending is None else pending.get(self.encoding)


class Hub:
    """Follows the change stream and posts one delta a second to every mailbox.

    The hub keeps the fleet it has sent (``FleetRows``): a client's snapshot takes its vehicles
    from there, not from a read of the whole fleet, and whatever changes after it is in the
    client's mailbox (clients subscribe before they take the snapshot). The fleet is read whole
    only when the hub starts following the change stream (``start``: servers call it when they
    start serving, so the first console opened finds it ready) and again when the speed layer
    answers after being unreachable.
    """

    SNAPSHOT_LIMIT = 20_000  # vehicles in a snapshot: the most recently seen

    def __init__(self, store: Store) -> None:
        self.store = store
        self.summary: Callable[[], dict[str, Any]] = store.summary  # the console sets its own
        self.fleet = FleetRows(store.windows().active_s)  # the vehicles it has sent
        self.changes = store.follower()  # the change stream, from its newest entry when first read
        self._boxes: set[Mailbox] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Condition()  # notified when the fleet is read, or found unreachable
        self._seeded = False  # the fleet holds the city (read whole since the change stream was followed)
        self._version = 0  # the fleet's: one more at each delta and each whole read (0: never read)
        self._last_summary: dict[str, Any] | None = None
        self._snapshot: tuple[int, Frames | None] = (0, None)
        self._snapshot_lock = threading.Lock()
        self._asked = time.monotonic()  # when a client or a poll last wanted the city
        self.reachable = True  # the speed layer answered last time the hub asked
        self.closing = False

    @property
    def clients(self) -> int:
        return len(self._boxes)

    def start(self) -> None:
        """Follow the change stream from now on, in a thread of its own (servers call this
        when they start serving; the first client or poll does it otherwise, never an import)."""
        with self._lock:
            self._asked = time.monotonic()
            if self._thread is None and not self.closing:
                self._thread = threading.Thread(target=self._follow, name="smartcity-ws-hub", daemon=True)
                self._thread.start()

    def subscribe(self, encoding: str = "text") -> Mailbox:
        """A mailbox for every message from now on (take the snapshot after subscribing)."""
        box = Mailbox(encoding)
        with self._lock:
            if self.closing:  # a socket that arrives during shutdown ends with the others
                box.closed = True
            self._boxes.add(box)
        self.start()
        return box

    def unsubscribe(self, box: Mailbox) -> None:
        with self._lock:
            self._boxes.discard(box)

    def close_all(self) -> None:
        """Shutting down: every socket loop ends now and closes with 1001 (going away), and
        the hub stops following changes. Servers wait for open requests to end before they
        exit, and a socket's never does by itself."""
        with self._lock:
            self.closing = True
            boxes = list(self._boxes)
        for box in boxes:
            box.close()
        with self._ready:
            self._ready.notify_all()

    def snapshot_frames(self, timeout: float = 30.0) -> Frames:
        """The snapshot: built once per delta posted however many clients connect or poll.
        Raises ``redis.RedisError`` while the speed layer is unreachable, or when the fleet
        could not be read within ``timeout`` seconds."""
        self.start()
        with self._ready:
            self._ready.wait_for(lambda: self._seeded or not self.reachable or self.closing, timeout)
        if not self.reachable:
            raise redis.ConnectionError(UNREACHABLE)
        if not self._seeded:  # shutting down before the first read, or the read is slow
            raise redis.TimeoutError("the live city has not been read yet")
        return self._whole_snapshot()  # while the server shuts down: the city as last followed

    def _whole_snapshot(self) -> Frames:
        """The snapshot of the fleet's current version: built once per version."""
        with self._snapshot_lock:
            version, frames = self._snapshot
            if frames is None or version != self._version:
                frames = Frames(self.snapshot())
                self._snapshot = (self._version, frames)
            return frames

    def snapshot(self) -> dict[str, Any]:
        """The whole city: the vehicles the hub has sent, the rest read now (a few hundred
        entities), and the summary of the last delta (at most a second old)."""
        st = self.store
        summary = self._last_summary
        return message(
            "snapshot",
            self.fleet.rows(self.SNAPSHOT_LIMIT),
            incidents=st.incidents("all", 500),
            traffic=st.traffic(),
            weather=st.weather(),
            summary=self.summary() if summary is None else summary,
            ts=now_ms(),
        )

    def _follow(self) -> None:
        """Run the hub until the server closes: an unexpected error restarts it after a pause
        (logged once until it recovers), so live updates never end while sockets are open."""
        failing = ""
        while not self.closing:
            try:
                return self._run()  # closing, or idle
            except SystemExit:  # a test server's teardown stops its threads with SystemExit: stop quietly
                log.debug("live updates stopped")
                return
            except Exception as exc:
                if f"{exc!r}" != failing:
                    log.exception("live updates failed; restarting them")
                    failing = f"{exc!r}"
                self._seeded = False  # follow from the newest change again, and read the fleet whole
                time.sleep(INTERVAL_S)

    def _run(self) -> None:
        """Follow the change stream and post a delta as soon as the pace allows and no write is
        half done (a write of more than one chunk notifies per chunk and marks its last), so
        deltas leave right after the data lands, at most once a second, and whole; and at least
        every ``HEARTBEAT_S``, changed or not."""
        changed = nothing_changed()
        pace = Pace(INTERVAL_S, MIN_GAP_S)
        pending_since: float | None = None
        last_post = time.monotonic()
        while not self.closing and not self._idle():
            if (not self._seeded or not self.reachable) and not self._read_whole():
                time.sleep(INTERVAL_S)
                continue
            now = time.monotonic()
            if pending_since is None and now - last_post >= HEARTBEAT_S:
                pending_since = now  # nothing changed for a while: say so
            block = min(INTERVAL_S, max(0.0, last_post + HEARTBEAT_S - now))
            if pending_since is not None:
                block = max(pace.wait(now), self.changes.hold(now))
                if block <= 0:
                    if self._post(changed):
                        pace.spend(now)
                        pending_since, changed, last_post = None, nothing_changed(), now
                    else:
                        time.sleep(INTERVAL_S)
                    continue
            try:
                got = self.changes.read(changed, max(0.001, block))
            except REDIS_ERRORS as exc:
                self._unreachable(exc)
                time.sleep(INTERVAL_S)
                continue
            if got and pending_since is None:
                pending_since = time.monotonic()

    def _idle(self) -> bool:
        """No client for ``IDLE_S``: stop (a server process whose consoles all left, e.g. one of
        several workers, costs Redis nothing); the next client or poll starts the hub again."""
        with self._lock:
            if self._boxes or time.monotonic() - self._asked < IDLE_S:
                return False
            self._thread, self._seeded = None, False
        log.info("live updates idle: no client for %.0f s", IDLE_S)
        return True

    def _post(self, changed: dict[str, set[str]]) -> bool:
        """Build the delta of ``changed`` and put it in every mailbox; False when it could not
        be built (kept for the next try: a bug building one delta must not end live updates)."""
        try:
            delta = self._delta(changed)
        except REDIS_ERRORS as exc:
            self._unreachable(exc)
            return False
        except Exception:
            log.exception("live update failed; trying again")
            return False
        self._broadcast(Frames(delta))  # encoded and framed once for every client
        return True

    def _broadcast(self, frames: Frames) -> None:
        with self._lock:
            boxes = list(self._boxes)
        for box in boxes:
            box.put(frames)

    def _unreachable(self, exc: Exception) -> None:
        """The speed layer stopped answering: tell every client once (not at each retry)."""
        if self.reachable:
            self.reachable = False
            log.warning("live updates paused: %s", exc)
            with self._ready:  # a client waiting for the first snapshot is told at once
                self._ready.notify_all()
            self._broadcast(Frames(status(UNREACHABLE)))

    def _read_whole(self) -> bool:
        """Follow the change stream from its newest entry and read the fleet whole: when the
        hub starts, after an unexpected error, and when the speed layer answers again. Clients
        already connected then get a fresh snapshot (what changed meanwhile is in it). False
        when the speed layer did not answer."""
        first = self._version == 0
        try:
            with self._snapshot_lock:  # no snapshot of a fleet half read
                self._version += 1
                self._seeded, self._last_summary = False, None
                self.changes.start()  # first: a change landing during the read is read as news
                self.fleet.replace(orjson.loads(self.store.vehicle_rows(limit=self.SNAPSHOT_LIMIT)))
                self._seeded = True
            frames = None if first else self._whole_snapshot()
        except REDIS_ERRORS as exc:
            self._unreachable(exc)
            return False
        if not self.reachable:
            self.reachable = True
            log.warning("live updates resumed")
        with self._ready:
            self._ready.notify_all()
        if frames is not None:
            self._broadcast(frames)
        return True

    def _delta(self, changed: dict[str, set[str]]) -> dict[str, Any]:
        st = self.store
        rows = orjson.loads(st.vehicle_rows(sorted(changed["v"]))) if changed["v"] else []
        with self._snapshot_lock:  # a snapshot is of one version of the fleet: before or after this
            self._version += 1
            self.fleet.update(rows)  # before the summary, which reads it
        delta = message(
            "delta",
            rows,
            incidents=st.states("i", sorted(changed["i"])),
            traffic=st.states("t", sorted(changed["t"])),
            weather=st.states("w", sorted(changed["w"])),
            summary=self.summary(),
            ts=now_ms(),
        )
        self._last_summary = delta["summary"]
        return delta
