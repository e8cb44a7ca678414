"""The fleet as the push hub last saw it: each vehicle's newest event time and speed.

The hub reads every changed vehicle's row for its deltas anyway; keeping their speeds lets it
give the summary its average speed without reading the whole fleet from Redis again each
second (that second read took 55-85 ms of Redis time on the build machine, on the path of
every delta). Vehicles leave as the speed layer lets them: unseen for its active window, in
event time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from pipeline.live_model import VEHICLE_ROW

_ID, _TS, _SPEED = (VEHICLE_ROW.index(k) for k in ("id", "ts", "speed"))


class FleetSpeeds:
    """Newest (event time, speed) per vehicle, from rows with the columns ``VEHICLE_ROW``."""

    def __init__(self, active_s: float) -> None:
        self.active_ms = active_s * 1000
        self._seen: dict[str, tuple[float, float | None]] = {}
        self._lock = threading.Lock()
        self.updated = False  # no rows yet: the hub has pushed nothing so far

    def update(self, rows: Iterable[list[Any]]) -> None:
        with self._lock:
            self.updated = True
            seen = self._seen
            for row in rows:
                ts = row[_TS] or 0
                old = seen.get(row[_ID])
                if old is None or ts >= old[0]:  # order-safe, as the speed layer is
                    seen[row[_ID]] = (ts, row[_SPEED])

    def average(self) -> float | None:
        """Mean speed (km/h) of the vehicles seen within the active window of the newest event;
        None when there are none."""
        with self._lock:
            if not self._seen:
                return None
            horizon = max(ts for ts, _ in self._seen.values()) - self.active_ms
            self._seen = {vid: seen for vid, seen in self._seen.items() if seen[0] >= horizon}
            speeds = [float(speed) for _, speed in self._seen.values() if speed is not None]
        return round(sum(speeds) / len(speeds), 1) if speeds else None
