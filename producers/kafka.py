"""Events to Apache Kafka: one topic per stream, key = ``device_id``, value = the JSON event.

Idempotent producer with ``acks=all``, batched (``linger.ms``) and compressed; every delivery
report is counted, so a run ends knowing exactly how many events Kafka acknowledged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pipeline.exceptions import KafkaUnavailable
from producers.sinks import Event

log = logging.getLogger(__name__)


@dataclass
class DeliveryStats:
    produced: int = 0
    delivered: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # failure reason -> events


def producer_config(
    bootstrap_servers: str, linger_ms: float = 20.0, compression: str = "lz4", delivery_timeout_s: float = 120.0
) -> dict[str, Any]:
    """The settings of every producer of the pipeline's events (the simulation, HTTP ingest)."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": True,  # retries never duplicate or reorder a partition's events
        "acks": "all",
        "compression.type": compression,
        "linger.ms": linger_ms,
        "message.timeout.ms": int(delivery_timeout_s * 1000),  # undelivered by then: reported failed
        "logger": logging.getLogger("librdkafka"),
    }


class KafkaSink:
    """A sink (``send`` / ``close``) producing to Kafka; the client is created on first use."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Mapping[str, str] | None = None,
        linger_ms: float = 20.0,
        compression: str = "lz4",
        delivery_timeout_s: float = 120.0,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = dict(topics or {})
        self.config: dict[str, Any] = {
            **producer_config(bootstrap_servers, linger_ms, compression, delivery_timeout_s),
            "error_cb": self._on_error,
            **(config or {}),
        }
        self.stats = DeliveryStats()
        self._producer: Producer | None = None
        self._fatal: KafkaError | None = None
        self._last_error = ""

    @property
    def sent(self) -> int:
        return self.stats.produced

    def _client(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.config)
        return self._producer

    def connect(self, timeout: float = 5.0) -> None:
        """Check that a broker answers; raises :class:`KafkaUnavailable` with the reason if not."""
        try:
            self._client().list_topics(timeout=timeout)
        except KafkaException as exc:
            raise KafkaUnavailable(f"cannot reach Kafka at {self.bootstrap_servers}: {exc.args[0].str()}") from exc

    def send(self, events: list[Event]) -> None:
        producer = self._client()
        if self._fatal is not None:
            raise KafkaUnavailable(f"the Kafka producer failed: {self._fatal.str()}")
        dumps, topics, report = orjson.dumps, self.topics, self._on_delivery
        for stream, key, event in events:
            value = dumps(event)
            while True:
                try:
                    producer.produce(topics.get(stream, stream), value, key.encode(), on_delivery=report)
                    break
                except BufferError:  # the client's queue is full: serve delivery reports, then retry
                    producer.poll(0.1)
            self.stats.produced += 1
        producer.poll(0)

    def close(self, timeout: float = 30.0) -> None:
        """Wait up to ``timeout`` for outstanding deliveries; what is left counts as failed."""
        if self._producer is None:
            return
        left = self._producer.flush(timeout)
        if left:
            self.stats.failed += left
            self.stats.errors["undelivered at exit"] += left
            log.error("%d events were not delivered to Kafka within %.0f s", left, timeout)
        self._producer = None

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.stats.delivered += 1
            return
        self.stats.failed += 1
        self.stats.errors[err.str()] += 1
        if self.stats.errors[err.str()] == 1:
            log.error("delivery to %s failed: %s", msg.topic(), err.str())

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
            log.error("Kafka producer fatal error: %s", err.str())
        elif err.str() != self._last_error:  # librdkafka retries by itself; say it once per kind
            log.warning("Kafka: %s", err.str())
        self._last_error = err.str()
