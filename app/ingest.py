"""Where the server sends events posted to ``/api/ingest/<stream>`` and operators' resolutions,
and how a posted body becomes those events (``posted_events``).

With ``SMARTCITY_KAFKA_BOOTSTRAP_SERVERS`` set they go to the stream's Kafka topic, keyed by
``device_id``, like any producer's: the Spark job processes them into the speed layer and the
lake's micro-batches. Without Kafka the server processes them itself (``DirectIngest``).

Lives in ``app`` rather than ``pipeline.runtime`` because it reuses the producers' Kafka
settings, and the pipeline never imports ``producers``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from app.actions import Ingest
from pipeline import runtime
from pipeline.exceptions import KafkaUnavailable
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from producers.kafka import producer_config

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0  # an HTTP client waits this long for Kafka's acknowledgement, then gets a 503
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace
# splits a body orjson refused; 1e400 reads as inf, NaN as nan, a 5,000-digit int as inf (not a ValueError)
_DECODER = json.JSONDecoder(parse_int=float)


@dataclass(frozen=True)
class Posted:
    """The events a request body carried, in order, as ``(Kafka key, raw payload)`` pairs."""

    events: list[tuple[bytes | None, bytes]]
    error: str = ""  # why the body is not JSON (then it is one event: the body itself); "" when it is


def posted_events(body: bytes, max_payload_bytes: int) -> Posted:
    """Split a POSTed body into its events, so that each is judged (and counted) on its own.

    A JSON array carries one event per element, whatever the element is; any other JSON value
    is one event. When orjson refuses the body (a 1e400 or NaN somewhere, which the validator
    names), the stdlib parser finds the top-level elements and each is sent as the client wrote
    it. A body no parser can split is one event, the body itself: cut to one byte past the
    payload limit when longer, so its dead letter says it was too large and keeps the start.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        items = _split(body)
        if items is None:
            return Posted([(None, body[: max_payload_bytes + 1])], str(exc))
        return Posted([(_key(value), text.encode()) for value, text in items])
    values = parsed if isinstance(parsed, list) else [parsed]
    return Posted([(_key(value), orjson.dumps(value)) for value in values])


def _split(body: bytes) -> list[tuple[Any, str]] | None:
    """``(value, text)`` of each top-level event of ``body``, or None if it is not JSON at all."""
    try:
        text = body.decode("utf-8")
        at = _skip(text, 0)
        if not text.startswith("[", at):
            value, end = _DECODER.raw_decode(text, at)
            return [(value, text[at:end])] if _skip(text, end) == len(text) else None
        items: list[tuple[Any, str]] = []
        at = _skip(text, at + 1)
        if not text.startswith("]", at):
            while True:
                value, end = _DECODER.raw_decode(text, at)
                items.append((value, text[at:end]))
                at = _skip(text, end)
                if not text.startswith(",", at):
                    break
                at = _skip(text, at + 1)
        return items if text.startswith("]", at) and _skip(text, at + 1) == len(text) else None
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the stdlib's reach
        return None


def _skip(text: str, at: int) -> int:
    """The index of the first non-whitespace character at or after ``at``."""
    space = _SPACE.match(text, at)
    return space.end() if space else at


def _key(value: Any) -> bytes | None:
    """The Kafka key of an event: its ``device_id``, so one device's events stay in order."""
    device = value.get("device_id") if isinstance(value, dict) else None
    return device.encode("utf-8", "replace") if isinstance(device, str) else None


def http_ingest(settings: Settings, speed: SpeedLayer) -> Ingest:
    """Kafka when it is configured, else processing in this process."""
    if settings.kafka_bootstrap_servers:
        return KafkaIngest(settings.kafka_bootstrap_servers, settings.kafka_linger_ms, settings.kafka_compression)
    return runtime.DirectIngest(settings, speed)


class KafkaIngest:
    """Produces each call's events to one topic and returns once Kafka acknowledged every one
    (idempotent, ``acks=all``); raises :class:`KafkaUnavailable` naming the reason otherwise.

    Waits by polling with short sleeps, never in one blocking ``flush``: under gevent that
    would stall every request and socket of the worker while Kafka is down.
    """

    def __init__(
        self, bootstrap_servers: str, linger_ms: float = 20.0, compression: str = "lz4", timeout_s: float = TIMEOUT_S
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout_s = timeout_s
        # undelivered events fail when the client stops waiting, not minutes later behind its back
        self.config = producer_config(bootstrap_servers, linger_ms, compression, timeout_s)
        self.config["error_cb"] = self._on_error
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._last_error = ""

    def _client(self) -> Producer:
        with self._lock:  # created on first use: nothing connects when the app is built
            if self._producer is None:
                self._producer = Producer(self.config)
            return self._producer

    def __call__(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        producer = self._client()
        reports: list[KafkaError | None] = []  # list.append: safe when another thread's poll reports

        def report(err: KafkaError | None, _msg: Message) -> None:
            reports.append(err)

        deadline = time.monotonic() + self.timeout_s + 1.0  # librdkafka fails them at timeout_s itself
        for key, value in items:
            while True:
                try:
                    producer.produce(topic, value, key, on_delivery=report)
                    break
                except BufferError:  # the client's queue is full: serve reports, then retry
                    self._wait(producer, deadline, topic)
                except KafkaException as exc:
                    raise KafkaUnavailable(f"Kafka at {self.bootstrap_servers} refused the events: {exc}") from exc
        producer.flush(0)  # send now rather than after linger.ms; returns at once
        while len(reports) < len(items):
            self._wait(producer, deadline, topic, len(items) - len(reports))
        failed = [err for err in reports if err is not None]
        if failed:
            raise KafkaUnavailable(
                f"Kafka at {self.bootstrap_servers} did not take {len(failed)} of {len(items)} events "
                f"for {topic!r}: {failed[0].str()}" + (f" ({self._last_error})" if self._last_error else "")
            )

    def _wait(self, producer: Producer, deadline: float, topic: str, left: int = 0) -> None:
        producer.poll(0)
        if time.monotonic() > deadline:
            raise KafkaUnavailable(
                f"Kafka at {self.bootstrap_servers} did not confirm {left or 'the'} events for {topic!r} "
                f"within {self.timeout_s:.0f} s ({self._last_error or 'no answer'})"
            )
        time.sleep(0.005)  # yields to other greenlets under gevent

    def close(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` for events still unacknowledged."""
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None and (left := producer.flush(timeout)):
            log.error("%d ingested events were not delivered to Kafka within %.0f s", left, timeout)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():  # the idempotent producer cannot go on: the next call starts a new one
            log.error("Kafka producer fatal error: %s", err.str())
            with self._lock:
                self._producer = None
        elif err.str() != self._last_error:
            log.warning("Kafka: %s", err.str())
        self._last_error = err.str()
