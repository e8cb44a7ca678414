"""Kafka topics of the pipeline: created through the admin client, idempotently.

Used by the producers (``python -m producers --kafka``) and the native cluster's ``up``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.exceptions import KafkaUnavailable


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
