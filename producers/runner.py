"""Drives a simulation in (scaled) real time and hands its events to a sink."""

from __future__ import annotations

import threading
import time
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
) -> RunStats:
    """Step ``sim`` by ``step_s`` until ``duration_s`` simulated seconds or ``stop``.

    ``time_scale`` is simulated seconds per wall second (1 = real time); 0 runs flat out.
    """
    stop = stop or threading.Event()
    stats = RunStats()
    wall0, cpu0 = time.monotonic(), time.process_time()
    while not stop.is_set():
        if duration_s is not None and stats.sim_seconds >= duration_s:
            break
        events = sim.step(step_s)
        sink.send(events)
        stats.steps += 1
        stats.events += len(events)
        stats.sim_seconds += step_s
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
