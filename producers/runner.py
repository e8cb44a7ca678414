"""Drives a simulation in (scaled) real time and hands its events to a sink."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from producers.simulation import CitySimulation
from producers.sinks import Sink


@dataclass
class RunStats:
    steps: int = 0
    events: int = 0
    sim_seconds: float = 0.0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    behind_seconds: float = 0.0  # how far the run lagged real time at its worst
    time_scale: float = 1.0
    started: float | None = None  # monotonic time of the first step

    def __post_init__(self) -> None:
        # (monotonic time, simulated seconds reached on schedule) after each step; not a field,
        # so that asdict() (a run's JSON summary) leaves it out
        self._marks: deque[tuple[float, float]] = deque(maxlen=512)

    def _on_schedule(self, at: float) -> float:
        """Simulated seconds done by ``at``, counting a run that waits for its next step as
        on time (it is ahead by up to one step, never behind)."""
        if self.time_scale <= 0 or self.started is None:
            return self.sim_seconds
        return min(self.sim_seconds, (at - self.started) * self.time_scale)

    def mark(self, at: float) -> None:
        self._marks.append((at, self._on_schedule(at)))

    def pace(self, now: float | None = None, window_s: float = 10.0) -> dict[str, float | None]:
        """How the run keeps up, as of ``now`` (monotonic): ``realtime_factor`` = simulated
        seconds per wall second over the last ``window_s`` (1.0 = real time; a run stuck on a
        full bus counts as stopped, not as its last step's pace), and ``behind_s`` = how far its
        simulated clock is behind the schedule its ``time_scale`` sets (None when flat out)."""
        now = time.monotonic() if now is None else now
        marks = list(self._marks)
        if self.started is None or not marks:
            return {"realtime_factor": None, "behind_s": None}
        ref = next((m for m in reversed(marks) if m[0] <= now - window_s), marks[0])
        done = self._on_schedule(now)
        factor = (done - ref[1]) / (now - ref[0]) if now > ref[0] else None
        behind = max(0.0, (now - self.started) - self.sim_seconds / self.time_scale) if self.time_scale > 0 else None
        return {
            "realtime_factor": None if factor is None else round(factor, 3),
            "behind_s": None if behind is None else round(behind, 2),
        }


def default_start(time_scale: float, duration_s: float | None) -> datetime | None:
    """Where a run's simulated clock starts: now, or — for a faster-than-real-time run of
    known length — early enough that it ends at now, so no event is stamped in the future."""
    if time_scale != 1 and duration_s:
        return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=duration_s)
    return None


def run(
    sim: CitySimulation,
    sink: Sink,
    duration_s: float | None = None,
    time_scale: float = 1.0,
    step_s: float = 1.0,
    stop: threading.Event | None = None,
    stats: RunStats | None = None,
) -> RunStats:
    """Step ``sim`` by ``step_s`` until ``duration_s`` simulated seconds or ``stop``.

    ``time_scale`` is simulated seconds per wall second (1 = real time); 0 runs flat out.
    ``stats``, when given, is kept current as the run goes (read ``pace()`` from elsewhere).
    """
    stop = stop or threading.Event()
    stats = RunStats() if stats is None else stats
    stats.time_scale = time_scale
    wall0, cpu0 = time.monotonic(), time.process_time()
    stats.started = wall0
    stats.mark(wall0)
    while not stop.is_set():
        if duration_s is not None and stats.sim_seconds >= duration_s:
            break
        events = sim.step(step_s)
        sink.send(events)
        stats.steps += 1
        stats.events += len(events)
        stats.sim_seconds += step_s
        stats.mark(time.monotonic())
        if time_scale > 0:
            due = wall0 + stats.sim_seconds / time_scale
            ahead = due - time.monotonic()
            if ahead > 0:
                stop.wait(ahead)
            else:
                stats.behind_seconds = max(stats.behind_seconds, -ahead)
    stats.wall_seconds = time.monotonic() - wall0
    stats.cpu_seconds = time.process_time() - cpu0
    return stats
