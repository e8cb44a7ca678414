"""Where simulated events go: the in-process bus, or JSON lines (a file or stdout).

A sink is small: ``send(events)`` and ``close()``. JSON lines hold one
``{"stream", "key", "event"}`` object per line, so a recorded run replays exactly.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from pipeline.bus import InProcessBus

Event = tuple[str, str, dict[str, Any]]


class Sink(Protocol):
    def send(self, events: list[Event]) -> None: ...

    def close(self) -> None: ...


class BusSink:
    """Serialises events to JSON bytes and produces them keyed by ``device_id``."""

    def __init__(
        self, bus: InProcessBus, topics: Mapping[str, str] | None = None, timeout: float | None = 30.0
    ) -> None:
        """``timeout``: longest a send waits for room on the bus before ``BusFull`` (None: as
        long as it takes, e.g. a simulation that would rather slow down than lose events)."""
        self.bus = bus
        self.topics = dict(topics or {})
        self.timeout = timeout
        self.sent = 0

    def send(self, events: list[Event]) -> None:
        grouped: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)
        dumps = orjson.dumps
        for stream, key, event in events:
            grouped[self.topics.get(stream, stream)].append((key.encode(), dumps(event)))
        for topic, items in grouped.items():
            self.bus.produce_many(topic, items, self.timeout)
        self.sent += len(events)

    def close(self) -> None:
        pass


class JsonLinesSink:
    """Writes one JSON object per event to a file (or stdout for ``-``)."""

    def __init__(self, path: str | Path) -> None:
        self._own = str(path) != "-"
        self._out: IO[bytes] = open(path, "wb") if self._own else sys.stdout.buffer  # noqa: SIM115
        self.sent = 0

    def send(self, events: list[Event]) -> None:
        dumps = orjson.dumps
        self._out.write(b"".join(dumps({"stream": s, "key": k, "event": e}) + b"\n" for s, k, e in events))
        self.sent += len(events)

    def close(self) -> None:
        self._out.flush()
        if self._own:
            self._out.close()


class CountingSink:
    """Discards events, counting them (for measuring the simulation alone)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, events: list[Event]) -> None:
        self.sent += len(events)

    def close(self) -> None:
        pass


def read_jsonl(path: str | Path) -> Iterator[Event]:
    """Events of a recorded run, in order; lines that are not events are skipped."""
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            item = orjson.loads(line)
            yield item["stream"], item["key"], item["event"]


def batches(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    """``events`` in lists of ``size``; when reading them fails (a recording cut short), the events
    read before the failure still come out, then the error is raised."""
    batch: list[Event] = []
    try:
        for ev in events:
            batch.append(ev)
            if len(batch) >= size:
                yield batch
                batch = []
    except Exception:
        if batch:
            yield batch
        raise
    if batch:
        yield batch
