"""Speed-layer writes kept while Redis is away, applied in order when it returns.

The embedded processor never waits for Redis: each validated micro-batch goes to the lake
at once and to this backlog as encoded script calls (``SpeedLayer.encode``). The writer
thread applies the backlog oldest first; while Redis is unreachable it keeps the calls
(bounded in bytes) and tries again with backoff, so when Redis comes back the speed layer
catches up with every event it missed, in order (the script is order-safe and idempotent,
so a call that was applied but whose answer was lost is harmless to apply again).

Redis with ``appendonly yes`` (``appendfsync everysec``) may lose the last second of writes it
acknowledged when it dies: so when an outage begins, the calls applied in the ``redo_s``
seconds before it are queued again, ahead of the rest (harmless where they did survive).

A call Redis refuses for good (a script error, not an outage) is dropped, counted and
logged: the lake still has its events. So is the oldest call once the bound is reached:
``python -m pipeline.rebuild`` then restores the speed layer from the lake.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from redis.exceptions import RedisClusterException

from pipeline.accounting import Accounting
from pipeline.speed_layer import Chunk, SpeedLayer
from pipeline.validation import DeadLetter, Record

log = logging.getLogger(__name__)

# Redis answers that mean "not now" rather than "never": retried like a lost connection
_TRANSIENT_REPLIES = ("LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "OOM", "NOREPLICAS")


# What a Redis call raises when it fails: redis-py raises RedisClusterException (not a
# RedisError) when no node of a cluster answers at all.
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, RedisClusterException)


def transient(exc: Exception) -> bool:
    """Whether ``exc`` is an outage worth retrying (True) or a refusal of this call (False)."""
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | RedisClusterException):
        return True
    return isinstance(exc, redis.ResponseError) and str(exc).startswith(_TRANSIENT_REPLIES)


@dataclass
class _Pending:
    chunk: Chunk
    produced_at: Sequence[float]  # the batch's produce times, for latency, on its last call
    redo: bool = False  # applied once already, before an outage: counted then


class Backoff:
    """Delays between tries: ``first`` doubling to ``longest``; reset by a success."""

    def __init__(self, first: float = 0.1, longest: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.first, self.longest, self.clock = first, longest, clock
        self._delay = 0.0
        self.next_at = 0.0

    def failed(self) -> None:
        self._delay = min(self.longest, max(self.first, self._delay * 2))
        self.next_at = self.clock() + self._delay

    def succeeded(self) -> None:
        self._delay, self.next_at = 0.0, 0.0

    def wait(self) -> float:
        """Seconds until the next try may go."""
        return max(0.0, self.next_at - self.clock())


class SpeedBacklog:
    """Encoded speed-layer calls waiting to be applied, oldest first, at most ``max_bytes``."""

    def __init__(
        self, speed: SpeedLayer, accounting: Accounting, max_bytes: int = 256 << 20, redo_s: float = 2.0
    ) -> None:
        self.speed = speed
        self.accounting = accounting
        self.max_bytes = max_bytes
        self.redo_s = redo_s
        self._recent: deque[tuple[float, Chunk]] = deque()  # applied within redo_s: (monotonic time, call)
        self.backoff = Backoff()
        self._queue: deque[_Pending] = deque()
        self._bytes = 0
        self._down_since: float | None = None  # wall time of the first failure of this outage
        self._applied_in_outage = 0
        self._overflowing = False  # the bound was reached in this outage (logged once)

    @property
    def pending(self) -> int:
        """Calls waiting."""
        return len(self._queue)

    def add(
        self,
        records: Sequence[tuple[str, Record]],
        dead: Sequence[DeadLetter],
        produced_at: Sequence[float],
        chunks: Sequence[Chunk] | None = None,
    ) -> None:
        """Queue a validated batch's calls (its newest dead letters ride with the last); ``chunks``:
        those calls encoded already (``SpeedLayer.encode`` of ``records`` and ``dead``)."""
        if chunks is None:
            chunks = self.speed.encode(records, dead)
        for i, chunk in enumerate(chunks):
            self._queue.append(_Pending(chunk, produced_at if i == len(chunks) - 1 else ()))
            self._bytes += len(chunk.batch)
            self._count(pending=chunk.events)
        while self._bytes > self.max_bytes and len(self._queue) > 1:
            self._drop(self._queue.popleft(), f"the backlog passed {self.max_bytes >> 20} MiB while Redis was away",
                       quiet=self._overflowing)  # fmt: skip
            self._overflowing = True

    def drain(self, force: bool = False) -> bool:
        """Apply waiting calls in order until none is left (True) or Redis fails (False).
        Between failures only one try per backoff delay goes out, unless ``force``."""
        if not self._queue:
            return True
        if not force and self.backoff.wait() > 0:
            return False
        while self._queue:
            item = self._queue[0]
            try:
                self.speed.apply(item.chunk)
            except REDIS_ERRORS as exc:
                if transient(exc):
                    self._outage(exc)
                    return False
                self._queue.popleft()
                self._bytes -= len(item.chunk.batch)
                self._drop(item, f"Redis refused the write: {exc}", queued=False)
                continue
            self._queue.popleft()
            self._bytes -= len(item.chunk.batch)
            self._applied(item)
        self.backoff.succeeded()
        return True

    def _applied(self, item: _Pending) -> None:
        now = time.monotonic()
        self._recent.append((now, item.chunk))
        while self._recent and self._recent[0][0] < now - self.redo_s:
            self._recent.popleft()
        if item.redo:
            return
        done = time.time()
        acc = self.accounting
        with acc.lock:
            for stream, n in item.chunk.streams.items():
                acc.stream(stream).speed_layer += n
            acc.speed_layer_pending -= item.chunk.events
            acc.latencies_ms.extend((done - t) * 1000 for t in item.produced_at)
            if self._down_since is not None:
                self._applied_in_outage += item.chunk.events
            if not self._queue and self._down_since is not None:
                log.warning("speed layer reachable again after %.0f s: applied %d events kept meanwhile",
                            done - self._down_since, self._applied_in_outage)  # fmt: skip
                self._down_since, self._applied_in_outage, self._overflowing = None, 0, False
                acc.speed_layer_down_since_ms = 0

    def _outage(self, exc: Exception) -> None:
        self.backoff.failed()
        acc = self.accounting
        with acc.lock:
            acc.last_error = f"speed layer: {exc}"
            if self._down_since is None:  # logged once per outage, not per try
                self._queue.extendleft(_Pending(chunk, (), redo=True) for _, chunk in reversed(self._recent))
                self._bytes += sum(len(chunk.batch) for _, chunk in self._recent)
                self._recent.clear()
                self._down_since = time.time()
                acc.speed_layer_down_since_ms = int(self._down_since * 1000)
                acc.speed_layer_errors += 1
                log.error("speed layer unreachable (%s): keeping its writes and retrying; the lake goes on", exc)

    def _drop(self, item: _Pending, why: str, queued: bool = True, quiet: bool = False) -> None:
        if queued:
            self._bytes -= len(item.chunk.batch)
        if item.redo:  # counted when it was first applied
            return
        acc = self.accounting
        with acc.lock:
            acc.speed_layer_pending -= item.chunk.events
            acc.speed_layer_dropped += item.chunk.events
            acc.speed_layer_errors += 1
            acc.last_error = f"speed layer: {why}"
        if quiet:
            return
        log.error("%d events not applied to the speed layer (%s); the lake has them: "
                  "python -m pipeline.rebuild restores it", item.chunk.events, why)  # fmt: skip

    def _count(self, pending: int) -> None:
        with self.accounting.lock:
            self.accounting.speed_layer_pending += pending
