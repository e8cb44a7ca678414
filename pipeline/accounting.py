"""Per-stream accounting: received = valid + dead-lettered, and where valid events went.

A processor publishes its accounting (``ProcessorStatus``, with per-stream rates and lag)
to the speed layer (``StatusPublisher``), so that consoles in other processes, e.g. under
gunicorn, show the pipeline's health: the embedded processor and the Spark driver alike.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import redis

from pipeline.schemas import STREAMS

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.speed_layer import SpeedLayer

log = logging.getLogger(__name__)
COUNTERS = ("received", "valid", "dead_letters", "speed_layer", "lake_rows")
CLOCKS_KEPT = 50  # devices with clocks ahead listed, at most


class LatencyHistogram:
    """Every latency sample (ms) of a run, counted in log-spaced buckets: memory stays fixed
    (~2,300 buckets from 1 µs to 1 h) however long the run, and counts are exact.

    Bucket error: a bucket spans a ratio of 1.01, and a percentile is the mean of the samples
    in its bucket, so it is within 1 % of the exact sample (the nearest-rank percentile of
    every sample); ``max`` and ``min`` are exact. Samples under 1 µs share the first bucket and
    samples over an hour the last (both still counted; ``max`` still exact).

    It takes samples as ``deque.extend`` did (any iterable, or a numpy array), and iterates as
    its samples, sorted, each bucket's samples as their mean (exact for a bucket of one).
    Not thread-safe: callers hold ``Accounting.lock``.
    """

    LOWEST_MS = 0.001
    HIGHEST_MS = 3_600_000.0
    RATIO = 1.01
    _LOG_RATIO = float(np.log(RATIO))
    BUCKETS = int(np.log(HIGHEST_MS / LOWEST_MS) / _LOG_RATIO) + 2

    def __init__(self, samples: Iterable[float] = ()) -> None:
        self._counts = np.zeros(self.BUCKETS, np.int64)
        self._sums = np.zeros(self.BUCKETS, np.float64)
        self._n = 0
        self.min = float("inf")
        self.max = float("-inf")
        self.extend(samples)

    def extend(self, samples: Iterable[float]) -> None:
        """Count ``samples`` (milliseconds)."""
        if isinstance(samples, np.ndarray):
            values = samples.astype(np.float64, copy=False).ravel()
        elif isinstance(samples, list | tuple):
            values = np.array(samples, np.float64)
        else:
            values = np.fromiter(samples, np.float64)
        if not np.isfinite(values).all():
            values = values[np.isfinite(values)]
        if not values.size:
            return
        scaled = np.log(np.maximum(values, self.LOWEST_MS) * (1 / self.LOWEST_MS)) * (1 / self._LOG_RATIO)
        index = np.minimum(scaled.astype(np.int64) + (values >= self.LOWEST_MS), self.BUCKETS - 1)
        self._counts += np.bincount(index, minlength=self.BUCKETS)
        self._sums += np.bincount(index, weights=values, minlength=self.BUCKETS)
        self._n += int(values.size)
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))

    def append(self, sample: float) -> None:
        self.extend((sample,))

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s samples to these."""
        if other._n:
            self._counts += other._counts
            self._sums += other._sums
            self._n += other._n
            self.min, self.max = min(self.min, other.min), max(self.max, other.max)

    def clear(self) -> None:
        self._counts[:] = 0
        self._sums[:] = 0.0
        self._n, self.min, self.max = 0, float("inf"), float("-inf")

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[float]:
        for i in np.flatnonzero(self._counts):
            n = int(self._counts[i])
            yield from [float(self._sums[i]) / n] * n

    def percentile(self, q: float) -> float | None:
        """The nearest-rank ``q`` quantile (0..1) of every sample, within 1 %; None when empty."""
        if not self._n:
            return None
        rank = min(self._n - 1, int(q * self._n))
        i = int(np.searchsorted(np.cumsum(self._counts), rank, side="right"))
        return min(self.max, max(self.min, float(self._sums[i]) / int(self._counts[i])))

    def percentiles(self) -> dict[str, float | None]:
        """``p50``, ``p99`` and ``max`` in ms, rounded to 0.01 (None when empty)."""
        if not self._n:
            return {"p50": None, "p99": None, "max": None}
        return {"p50": round(self.percentile(0.50) or 0.0, 2), "p99": round(self.percentile(0.99) or 0.0, 2),
                "max": round(self.max, 2)}  # fmt: skip


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
    speed_layer_pending: int = 0  # valid events kept for the speed layer while it is away
    speed_layer_dropped: int = 0  # valid events the speed layer never got (the lake has them)
    speed_layer_down_since_ms: int = 0  # wall time the current speed-layer outage began (0: none)
    lake_errors: int = 0
    alerts: int = 0  # alerts raised by zones, rules and the built-in kinds (new ones only)
    rules_errors: int = 0  # batches whose rules were not evaluated (rule state unreachable, a bad rule)
    last_error: str = ""
    lake_written_ms: int = 0  # wall time of the last lake flush that wrote rows (epoch ms)
    # every event -> speed layer sample of the run (a bounded histogram, see LatencyHistogram)
    latencies_ms: LatencyHistogram | deque[float] = field(default_factory=LatencyHistogram)
    # devices whose clocks ran ahead past the tolerance (their events kept at the receive time):
    # (stream, device_id) -> (seconds ahead, when seen, epoch ms), the CLOCKS_KEPT seen last
    clocks_ahead: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def clock_ahead(self, stream: str, device_id: str, skew_s: float, seen: datetime) -> None:
        """Note a device whose clock ran ``skew_s`` ahead (call with ``lock`` held)."""
        ahead = self.clocks_ahead
        ahead.pop((stream, device_id), None)  # re-inserted: the dict keeps the most recent last
        ahead[(stream, device_id)] = (round(skew_s, 1), int(seen.timestamp() * 1000))
        if len(ahead) > CLOCKS_KEPT:
            del ahead[next(iter(ahead))]

    def stream(self, name: str) -> StreamCounts:
        counts = self.streams.get(name)
        if counts is None:  # an unknown stream still gets counted, as dead letters
            counts = self.streams[name] = StreamCounts()
        return counts

    def latency_percentiles(self) -> dict[str, float | None]:
        """p50, p99 and max (ms) over every sample of the run (within 1 %, see ``LatencyHistogram``)."""
        with self.lock:
            samples = self.latencies_ms
            if not isinstance(samples, LatencyHistogram):  # a caller may keep plain samples (e.g. a deque)
                samples = LatencyHistogram(samples)
            return samples.percentiles()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-friendly copy of every counter."""
        with self.lock:
            streams = {name: asdict(c) for name, c in self.streams.items()}
            out: dict[str, Any] = {
                "streams": streams,
                "batches": self.batches,
                "speed_layer_errors": self.speed_layer_errors,
                "speed_layer_pending": self.speed_layer_pending,
                "speed_layer_dropped": self.speed_layer_dropped,
                "speed_layer_down_since_ms": self.speed_layer_down_since_ms,
                "lake_errors": self.lake_errors,
                "alerts": self.alerts,
                "rules_errors": self.rules_errors,
                "last_error": self.last_error,
                "lake_written_ms": self.lake_written_ms,
                "clocks_ahead": _clock_rows(
                    {"stream": st, "device_id": dev, "skew_s": skew, "seen_ms": seen}
                    for (st, dev), (skew, seen) in self.clocks_ahead.items()
                ),
            }
        out["totals"] = {key: sum(s[key] for s in streams.values()) for key in COUNTERS}
        out["latency_ms"] = self.latency_percentiles()
        return out


class Rates:
    """Events/s per stream from successive counts, over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 10.0, step_s: float = 0.5) -> None:
        self.window_s = window_s
        self.step_s = step_s
        self._samples: deque[tuple[float, dict[str, int]]] = deque()
        self._lock = threading.Lock()

    def update(self, t: float, counts: Mapping[str, int]) -> dict[str, float]:
        """Rates at time ``t`` (seconds) given the counts then; empty on the first call."""
        with self._lock:
            samples = self._samples
            while len(samples) > 1 and samples[1][0] <= t - self.window_s:
                samples.popleft()
            base = samples[0] if samples else None
            if not samples or t - samples[-1][0] >= self.step_s:
                samples.append((t, dict(counts)))
        if base is None or t <= base[0]:
            return {}
        dt = t - base[0]
        return {name: round((n - base[1].get(name, 0)) / dt, 1) for name, n in counts.items()}


class ProcessorStatus:
    """What one processor says about itself: its accounting snapshot plus ``name``, ``mode``,
    ``rates_per_s`` (received per stream), ``lag`` (events waiting per stream, or None),
    ``topics`` (the topics it reads) and ``unread_topics`` (the cluster's topics with messages
    that it does not read, see ``pipeline.topics.TopicWatch``; None: it does not look)."""

    def __init__(
        self,
        name: str,
        mode: str,
        accounting: Accounting,
        lag: Callable[[], dict[str, int] | None] | None = None,
        clock: Callable[[], float] = time.time,
        topics: Iterable[str] = (),
        unread_topics: Callable[[], list[dict[str, Any]] | None] | None = None,
        extra: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        """``extra``: more of the processor's state to show with it, e.g. its MQTT ingest."""
        self.name = name
        self.mode = mode
        self.accounting = accounting
        self.lag = lag
        self.clock = clock
        self.topics = sorted(topics)
        self.unread_topics = unread_topics
        self.extra = extra
        self._rates = Rates()

    def current(self) -> dict[str, Any]:
        snap = self.accounting.snapshot()
        now = self.clock()
        received = {name: c["received"] for name, c in snap["streams"].items()}
        lag = None
        if self.lag is not None:
            try:
                lag = self.lag()
            except Exception as exc:  # e.g. Spark's progress while the query stops: no lag, not a crash
                log.debug("lag of %s: %s", self.name, exc)
        rates = self._rates.update(now, received)
        unread = self.unread_topics() if self.unread_topics is not None else None
        snap.update(name=self.name, mode=self.mode, now_ms=int(now * 1000), rates_per_s=rates, lag=lag,
                    topics=self.topics, unread_topics=unread)  # fmt: skip
        if self.extra is not None:
            snap.update(self.extra())
        return snap


class StatusPublisher:
    """Publishes a ``ProcessorStatus`` to the speed layer, at most every ``every_s``.

    The key expires after ``ttl_s``: a processor that stops publishing (crashed, stuck)
    disappears, and readers list it as gone for ``keep_gone_s`` more. Never raises.
    """

    def __init__(
        self,
        speed: SpeedLayer,
        status: ProcessorStatus,
        every_s: float = 1.0,
        ttl_s: float = 30.0,
        keep_gone_s: float = 600.0,
    ) -> None:
        self.speed = speed
        self.status = status
        self.every_s = every_s
        self.ttl_s = ttl_s
        self.keep_gone_s = keep_gone_s
        self._last = float("-inf")
        self._failing = False

    def maybe_publish(self) -> None:
        """Publish unless the last one was less than ``every_s`` ago (cheap to call often)."""
        if time.monotonic() - self._last >= self.every_s:
            self.publish()

    def publish(self, state: str = "running") -> bool:
        self._last = time.monotonic()
        try:
            self.speed.publish_status(self.status.name, self.status.current() | {"state": state}, self.ttl_s,
                                      self.keep_gone_s)  # fmt: skip
        except redis.RedisError as exc:
            if not self._failing:  # once per outage: the speed-layer writes log theirs
                log.warning("cannot publish the status of %s: %s", self.status.name, exc)
            self._failing = True
            return False
        self._failing = False
        return True

    def run(self, stop: threading.Event) -> None:
        """Publish every ``every_s`` until ``stop`` is set, then once more as stopped."""
        while not stop.wait(max(0.0, self._last + self.every_s - time.monotonic())):
            self.publish()
        self.publish("stopped")


def combine(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Several processors' statuses as one: counters, rates and lag summed, newest event and
    lake write the latest, latency the worst of each percentile, a topic unread when no
    processor reads it. None when there are none."""
    snaps = list(snapshots)
    if not snaps:
        return None
    if len(snaps) == 1:
        return dict(snaps[0])
    streams: dict[str, dict[str, int]] = {}
    for snap in snaps:
        for name, counts in (snap.get("streams") or {}).items():
            mine = streams.setdefault(name, {key: 0 for key in COUNTERS} | {"last_event_ms": 0})
            for key, value in counts.items():
                mine[key] = max(mine.get(key, 0), value) if key == "last_event_ms" else mine.get(key, 0) + value
    latency = {
        key: max((v for s in snaps if (v := (s.get("latency_ms") or {}).get(key)) is not None), default=None)
        for key in ("p50", "p99", "max")
    }
    return {
        "streams": streams,
        "batches": sum(s.get("batches", 0) for s in snaps),
        "speed_layer_errors": sum(s.get("speed_layer_errors", 0) for s in snaps),
        "speed_layer_pending": sum(s.get("speed_layer_pending", 0) for s in snaps),
        "speed_layer_dropped": sum(s.get("speed_layer_dropped", 0) for s in snaps),
        "speed_layer_down_since_ms": max(s.get("speed_layer_down_since_ms", 0) for s in snaps),
        "lake_errors": sum(s.get("lake_errors", 0) for s in snaps),
        "alerts": sum(s.get("alerts", 0) for s in snaps),
        "rules_errors": sum(s.get("rules_errors", 0) for s in snaps),
        "last_error": next((s["last_error"] for s in snaps if s.get("last_error")), ""),
        "lake_written_ms": max(s.get("lake_written_ms", 0) for s in snaps),
        "clocks_ahead": _clock_rows(row for s in snaps for row in s.get("clocks_ahead") or []),
        "totals": {key: sum(c.get(key, 0) for c in streams.values()) for key in COUNTERS},
        "latency_ms": latency,
        "rates_per_s": _sum_maps(s.get("rates_per_s") for s in snaps) or {},
        "lag": _sum_maps(s.get("lag") for s in snaps),
        "topics": sorted({t for s in snaps for t in s.get("topics") or ()}),
        "unread_topics": _unread(snaps),
    }


def busiest_first(topics: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Unread topics, those still written to first, then by messages."""
    return sorted((dict(t) for t in topics), key=lambda t: (-(t["messages_per_s"] or 0), -t["messages"], t["topic"]))


def _unread(snaps: list[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """Topics some processor saw unread and none reads; None when no processor looks."""
    seen = [s["unread_topics"] for s in snaps if s.get("unread_topics") is not None]
    if not seen:
        return None
    read = {t for s in snaps for t in s.get("topics") or ()}
    newest: dict[str, Mapping[str, Any]] = {}
    for listing in seen:
        for entry in listing:
            mine = newest.get(entry["topic"])
            if entry["topic"] not in read and (mine is None or entry["messages"] > mine["messages"]):
                newest[entry["topic"]] = entry
    return busiest_first(newest.values())


def _clock_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Devices whose clocks run ahead, furthest ahead first, at most ``CLOCKS_KEPT``."""
    return sorted((dict(r) for r in rows), key=lambda r: -r["skew_s"])[:CLOCKS_KEPT]


def _sum_maps(maps: Iterable[Mapping[str, float] | None]) -> dict[str, float] | None:
    out: dict[str, float] | None = None
    for m in maps:
        if m is None:
            continue
        out = out if out is not None else {}
        for key, value in m.items():
            out[key] = out.get(key, 0) + value
    return out
