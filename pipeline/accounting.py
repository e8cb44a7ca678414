"""Per-stream accounting: received = valid + dead-lettered, and where valid events went."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.schemas import STREAMS


@dataclass
class StreamCounts:
    received: int = 0
    valid: int = 0
    dead_letters: int = 0
    speed_layer: int = 0
    lake_rows: int = 0
    last_event_ms: int = 0  # newest valid event time seen (epoch ms)


@dataclass
class Accounting:
    """Counters shared by the processor thread and readers (console, metrics, tests)."""

    streams: dict[str, StreamCounts] = field(default_factory=lambda: {s: StreamCounts() for s in STREAMS})
    batches: int = 0
    speed_layer_errors: int = 0
    lake_errors: int = 0
    last_error: str = ""
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stream(self, name: str) -> StreamCounts:
        counts = self.streams.get(name)
        if counts is None:  # an unknown stream still gets counted, as dead letters
            counts = self.streams[name] = StreamCounts()
        return counts

    def latency_percentiles(self) -> dict[str, float | None]:
        with self.lock:
            samples = sorted(self.latencies_ms)
        if not samples:
            return {"p50": None, "p99": None, "max": None}

        def pick(q: float) -> float:
            return round(samples[min(len(samples) - 1, int(q * len(samples)))], 2)

        return {"p50": pick(0.50), "p99": pick(0.99), "max": round(samples[-1], 2)}

    def snapshot(self) -> dict[str, Any]:
        """A JSON-friendly copy of every counter."""
        with self.lock:
            streams = {name: asdict(c) for name, c in self.streams.items()}
            out: dict[str, Any] = {
                "streams": streams,
                "batches": self.batches,
                "speed_layer_errors": self.speed_layer_errors,
                "lake_errors": self.lake_errors,
                "last_error": self.last_error,
            }
        out["totals"] = {
            key: sum(s[key] for s in streams.values())
            for key in ("received", "valid", "dead_letters", "speed_layer", "lake_rows")
        }
        out["latency_ms"] = self.latency_percentiles()
        return out
