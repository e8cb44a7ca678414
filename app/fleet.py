"""The fleet as read in bulk: what the push hub last sent (``FleetRows``), and the whole active
fleet's rows kept fresh in the background for the vehicle lists (``FleetCache``).

``FleetRows``: each vehicle's newest map row, as the hub pushed it.

The hub reads every changed vehicle's row for its deltas anyway; keeping them gives a new client
its snapshot of the fleet, and the summary its average speed, without reading the whole fleet
from Redis again (20,000 rows took 120-135 ms of Redis time on the build machine with Redis idle,
up to a second while the fleet moved: what a console's first render waited for). Vehicles leave
as the speed layer lets them: unseen for its active window, in event time.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import redis

from pipeline.live_model import VEHICLE_ROW

log = logging.getLogger(__name__)
_ID, _TS, _SPEED = (VEHICLE_ROW.index(k) for k in ("id", "ts", "speed"))


class FleetRows:
    """Newest row per vehicle, from rows with the columns ``VEHICLE_ROW``."""

    def __init__(self, active_s: float) -> None:
        self.active_ms = active_s * 1000
        self._rows: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.updated = False  # no rows yet: the hub has pushed nothing so far

    def replace(self, rows: Iterable[list[Any]]) -> None:
        """Hold these rows instead (a whole read of the active fleet)."""
        fresh = {row[_ID]: row for row in rows}
        with self._lock:
            self._rows, self.updated = fresh, True

    def update(self, rows: Iterable[list[Any]]) -> None:
        with self._lock:
            self.updated = True
            held = self._rows
            for row in rows:
                old = held.get(row[_ID])
                if old is None or (row[_TS] or 0) >= (old[_TS] or 0):  # order-safe, as the speed layer is
                    held[row[_ID]] = row

    def _active(self) -> list[list[Any]]:
        """The rows within the active window of the newest event (the others are dropped)."""
        with self._lock:
            if not self._rows:
                return []
            horizon = max(row[_TS] or 0 for row in self._rows.values()) - self.active_ms
            self._rows = {vid: row for vid, row in self._rows.items() if (row[_TS] or 0) >= horizon}
            return list(self._rows.values())

    def rows(self, limit: int) -> list[list[Any]]:
        """The active vehicles' rows, most recently seen first (as ``vehicle_rows.lua`` lists them)."""
        active = self._active()
        active.sort(key=lambda row: -(row[_TS] or 0))
        return active[:limit]

    def average(self) -> float | None:
        """Mean speed (km/h) of the vehicles seen within the active window of the newest event;
        None when there are none."""
        speeds = [float(row[_SPEED]) for row in self._active() if row[_SPEED] is not None]
        return round(sum(speeds) / len(speeds), 1) if speeds else None


class FleetCache:
    """The whole active fleet's map rows, read by a background thread every ``period_s``.

    Many map clients then cost one Redis read per period instead of one each, and no request
    ever waits for a read (the read of 20,000 vehicles takes tens of milliseconds): requests are
    served the newest read. Only the very first request of a process waits for the first read.
    A failed read is raised to the requests until a read succeeds again (a 503 rather than a
    fleet that silently stopped moving). The thread starts with the first request, never at
    import or construction (so a forking server starts it in each worker), and ends once the
    cache is no longer referenced.
    """

    FIRST_READ_TIMEOUT_S = 30.0

    def __init__(self, read: Callable[[], bytes], period_s: float) -> None:
        self._read = read
        self.period_s = period_s
        # the rows, each row as a dict once a caller wanted it (making all 5,000 dicts at each
        # read took 12-17 ms of CPU in one go, which a gevent worker spent blocking every
        # request), and the last read's error
        self._state: tuple[list[list[Any]], list[dict[str, Any] | None], Exception | None] = ([], [], None)
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def rows(self) -> tuple[list[list[Any]], list[dict[str, Any] | None]]:
        """The newest read: its rows, and the dicts made of them so far (fill in as needed)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=_refresh,
                        args=(weakref.ref(self), self._read, self.period_s),
                        name="smartcity-fleet",
                        daemon=True,
                    )
                    self._thread.start()
        if not self._ready.wait(self.FIRST_READ_TIMEOUT_S):
            raise redis.TimeoutError("the fleet has not been read yet")
        rows, dicts, error = self._state
        if error is not None:  # a copy each time: raising one object from many requests grows its traceback
            raise copy.copy(error).with_traceback(None)
        return rows, dicts

    def refresh(self) -> None:
        """Read the fleet now (what the thread does each period)."""
        self.store(*_read_rows(self._read))

    def store(self, rows: list[list[Any]] | None, error: Exception | None) -> None:
        """Keep a read's rows, or its error (the previous rows stay, unserved, until a read
        succeeds)."""
        if rows is not None:
            self._state = (rows, [None] * len(rows), None)
        else:
            self._state = (self._state[0], self._state[1], error)
        self._ready.set()


def _read_rows(read: Callable[[], bytes]) -> tuple[list[list[Any]] | None, Exception | None]:
    try:
        rows: list[list[Any]] = orjson.loads(read())
        return rows, None
    except Exception as exc:  # kept for the requests: the thread goes on
        if not isinstance(exc, redis.RedisError):
            log.exception("reading the fleet failed")
        return None, exc


def _refresh(ref: weakref.ref[FleetCache], read: Callable[[], bytes], period_s: float) -> None:
    """Refresh the cache each period while it exists. The read itself holds no reference to
    the cache (a client library may keep a read's frames a while), so the cache, and this
    thread, end once its owner drops it."""
    while True:
        started = time.monotonic()
        rows, error = _read_rows(read)
        cache = ref()
        if cache is None:
            return
        cache.store(rows, error)
        del cache, rows, error
        time.sleep(max(0.0, period_s - (time.monotonic() - started)))
