"""In-process message bus: the embedded stand-in for Kafka.

Topics are bounded FIFO queues of ``Message`` (key and value bytes, as Kafka carries
them). ``produce`` blocks when a topic is full (backpressure) and gives up with
``BusFull`` after ``timeout``; memory is bounded by ``capacity`` per topic.
Per-topic FIFO keeps each ``device_id``'s events in order, as a Kafka partition would.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from pipeline.exceptions import BusClosed, BusFull


class Message(NamedTuple):
    """One message on a topic (a named tuple: made per event, it costs a third of a dataclass)."""

    topic: str
    key: bytes | None
    value: bytes
    produced_at: float = 0.0  # time.time() when produced, for latency
    source: str = "bus"  # who put it on the bus ("http", "mqtt:<topic>", "gtfs-rt"): dead letters say it


class InProcessBus:
    """Bounded per-topic queues with one condition variable for all consumers."""

    def __init__(self, topics: Sequence[str], capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._queues: dict[str, deque[Message]] = {t: deque() for t in topics}
        self._cond = threading.Condition()
        self._closed = False
        self._rr = 0
        self.produced = 0

    @property
    def topics(self) -> list[str]:
        return list(self._queues)

    def depth(self) -> dict[str, int]:
        """Messages waiting per topic (the embedded mode's consumer lag)."""
        return {t: len(q) for t, q in self._queues.items()}

    def produce(self, topic: str, key: bytes | None, value: bytes, timeout: float | None = 10.0) -> None:
        self.produce_many(topic, [(key, value)], timeout)

    def produce_many(
        self,
        topic: str,
        items: Iterable[tuple[bytes | None, bytes]],
        timeout: float | None = 10.0,
        source: str = "bus",
    ) -> None:
        """Append messages to ``topic``, waiting for room; raises ``BusFull`` on timeout.
        ``source`` says who sent them (kept with each message: a dead letter names it)."""
        queue = self._queues.get(topic)
        if queue is None:
            raise KeyError(f"unknown topic {topic!r}")
        now = time.time()
        pending = [Message(topic, k, v, now, source) for k, v in items]
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while pending:
                if self._closed:
                    raise BusClosed("bus is closed")
                room = self.capacity - len(queue)
                if room <= 0:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise BusFull(f"topic {topic!r} full ({self.capacity} messages) for {timeout}s")
                    self._cond.wait(remaining)
                    continue
                queue.extend(pending[:room])
                self.produced += min(room, len(pending))
                pending = pending[room:]
                self._cond.notify_all()

    def consume(self, max_messages: int = 5000, timeout: float = 0.1) -> list[Message]:
        """Take up to ``max_messages`` across topics, waiting up to ``timeout`` for the first."""
        with self._cond:
            if not any(self._queues.values()) and not self._closed:
                self._cond.wait(timeout)
            out: list[Message] = []
            queues = list(self._queues.values())
            # rotate the starting topic so one busy topic cannot starve the others
            self._rr = (self._rr + 1) % len(queues)
            share = max(1, max_messages // len(queues))
            for q in queues[self._rr :] + queues[: self._rr]:
                _take(q, min(len(q), share, max_messages - len(out)), out)
            for q in queues:  # fill what other topics left unused
                _take(q, min(len(q), max_messages - len(out)), out)
            if out:
                self._cond.notify_all()
            return out

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


def _take(q: deque[Message], n: int, out: list[Message]) -> None:
    """Move the first ``n`` messages of ``q`` to ``out`` (all of them in one C call when that is all)."""
    if n >= len(q):
        out.extend(q)
        q.clear()
    else:
        out.extend(q.popleft() for _ in range(n))
