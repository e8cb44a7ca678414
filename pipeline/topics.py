"""Kafka topics of the pipeline: created through the admin client, idempotently, and watched
for messages that no stream reads.

Used by the producers (``python -m producers --kafka``), the native cluster's ``up`` and the
Spark job's driver (``TopicWatch``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from pipeline.accounting import busiest_first
from pipeline.exceptions import KafkaUnavailable

log = logging.getLogger(__name__)
UNREAD_LISTED = 100  # topics a status lists at most: a shared cluster may hold thousands


def admin_client(bootstrap_servers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 2})


def broker_count(bootstrap_servers: str, timeout: float = 10.0) -> int:
    """Brokers the cluster reports; raises :class:`KafkaUnavailable` when none answers."""
    try:
        return len(admin_client(bootstrap_servers).list_topics(timeout=timeout).brokers)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot reach Kafka at {bootstrap_servers}: {exc.args[0]}") from exc


def create_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    partitions: int | None = None,
    replication_factor: int | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet; returns those created. ``None`` for partitions or
    replication takes the broker's default (``num.partitions``, ``default.replication.factor``)."""
    admin = admin_client(bootstrap_servers)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot reach Kafka at {bootstrap_servers}: {exc.args[0]}") from exc
    wanted = [t for t in dict.fromkeys(topics) if t not in existing]
    if not wanted:
        return []
    new = [NewTopic(t, num_partitions=partitions or -1, replication_factor=replication_factor or -1) for t in wanted]
    created = []
    for topic, future in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            future.result()
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # created meanwhile by someone else
                raise KafkaUnavailable(f"cannot create topic {topic!r}: {exc.args[0].str()}") from exc
    _wait_for_leaders(admin, created, timeout)
    return created


def _wait_for_leaders(admin: AdminClient, topics: list[str], timeout: float) -> None:
    """Return once every partition of ``topics`` has a leader in the metadata a client sees:
    brokers learn of a new topic a moment after the controller created it."""
    deadline = time.monotonic() + timeout
    while topics:
        metadata = admin.list_topics(timeout=timeout).topics
        partitions = [metadata[t].partitions.values() if t in metadata else [] for t in topics]
        if all(parts and all(p.leader >= 0 for p in parts) for parts in partitions):
            return
        if time.monotonic() > deadline:
            raise KafkaUnavailable(f"topics {topics} were created but have no leader after {timeout:.0f} s")
        time.sleep(0.1)


def unwatched(topic: str, read: Collection[str], skip: Collection[str]) -> bool:
    """Whether a topic is none of ours to report: read by a stream, skipped (the dead-letter
    topic), or internal to Kafka and its tools (``__consumer_offsets``, ``_schemas``…)."""
    return topic in read or topic in skip or topic.startswith("_")


def unread_topics(
    ends: Mapping[str, int], before: Mapping[str, int] | None, elapsed_s: float, limit: int = UNREAD_LISTED
) -> list[dict[str, Any]]:
    """Topics with messages, from the sum of their partitions' end offsets: ``topic``,
    ``messages`` (written since the topic was created) and ``messages_per_s`` since the check
    ``elapsed_s`` ago (None on the first), those still written to first."""
    found = []
    for topic, end in ends.items():
        if end <= 0:
            continue
        previous = None if before is None else before.get(topic, 0)
        rate = round(max(0, end - previous) / elapsed_s, 2) if previous is not None and elapsed_s > 0 else None
        found.append({"topic": topic, "messages": end, "messages_per_s": rate})
    return busiest_first(found)[:limit]


class TopicWatch:
    """The cluster's topics with messages that no stream reads, checked every ``every_s``:
    one metadata request and one end-offsets request for the topics nobody reads, so a
    producer writing to a misspelt topic shows in the System tab instead of vanishing."""

    def __init__(
        self,
        bootstrap_servers: str,
        read: Iterable[str],
        skip: Iterable[str] = (),
        every_s: float = 30.0,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.read, self.skip = frozenset(read), frozenset(skip)
        self.every_s, self.timeout_s, self.clock = every_s, timeout_s, clock
        self._admin: AdminClient | None = None  # created on the first check: no network in __init__
        self._last: tuple[float, dict[str, int]] | None = None
        self._unread: list[dict[str, Any]] | None = None
        self._failing = False

    def current(self) -> list[dict[str, Any]] | None:
        """The last check's unread topics (see ``unread_topics``); None before the first."""
        return self._unread

    def end_offsets(self) -> dict[str, int]:
        """Messages written to each topic nobody reads (sum of its partitions' end offsets)."""
        if self._admin is None:
            self._admin = admin_client(self.bootstrap_servers)
        metadata = self._admin.list_topics(timeout=self.timeout_s).topics
        partitions = [
            TopicPartition(name, p)
            for name, topic in metadata.items()
            if not unwatched(name, self.read, self.skip)
            for p in topic.partitions
        ]
        ends = dict.fromkeys((tp.topic for tp in partitions), 0)
        if partitions:
            futures = self._admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions},
                                               request_timeout=self.timeout_s)  # fmt: skip
            for tp, future in futures.items():
                ends[tp.topic] += max(0, future.result().offset)
        return ends

    def check(self) -> list[dict[str, Any]] | None:
        """Look again; on a failure keep the last answer (logged once per outage)."""
        try:
            ends = self.end_offsets()
        except KafkaException as exc:
            if not self._failing:
                log.warning("cannot list the topics of %s: %s", self.bootstrap_servers, exc.args[0])
            self._failing = True
            return self._unread
        self._failing = False
        now = self.clock()
        before, elapsed = (self._last[1], now - self._last[0]) if self._last else (None, 0.0)
        self._unread = unread_topics(ends, before, elapsed)
        self._last = (now, ends)
        return self._unread

    def run(self, stop: threading.Event) -> None:
        """Check at once, then every ``every_s`` until ``stop`` is set."""
        while True:
            self.check()
            if stop.wait(self.every_s):
                return
