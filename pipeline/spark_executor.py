"""The Spark job's executor side: a slice of one micro-batch through the shared BatchProcessor.

``PartitionJob`` is what ``DataFrame.mapInArrow`` runs on each Spark partition of a
micro-batch: Arrow batches of Kafka records in (``topic``, ``partition``, ``offset``,
``value``, ``timestamp``, ``batch_time``), one row of counts out. It needs no Spark, so a
test feeds it a list of record batches and reads the counts back.

Replay safety: a Kafka topic-partition's records are cut into groups of consecutive
offsets (at multiples of ``group_offsets``), and each group's lake files are named
``part-<run>-<topic>-<partition>-<first offset>.parquet``. Spark replays a batch with the
offset ranges it logged before running it, so a replay (task retry, driver restart)
rewrites the same files instead of adding rows. ``batch_time`` is the micro-batch's time
from Spark's offset log, the same on every replay: it is the rows' ingest time, so a
rewritten file holds identical rows. ``<run>`` is the streaming query's id, which lives in
the checkpoint: a new checkpoint against reset topics cannot overwrite an earlier run's files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from pipeline import runtime
from pipeline.accounting import Accounting
from pipeline.exceptions import LakeWriteError
from pipeline.lake import LakeWriter, open_lake
from pipeline.processor import BatchProcessor, Prepared, RawEvent
from pipeline.rules import RuleEngine
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import DeadLetter, Validator

log = logging.getLogger(__name__)

INPUT_COLUMNS = ("topic", "partition", "offset", "value", "timestamp", "batch_time")
RESULT_SCHEMA = pa.schema([("accounting", pa.string()), ("latencies_ms", pa.list_(pa.float64()))])
LAKE_ATTEMPTS = 6  # ~1 min of backoff; then the task fails and Spark retries it (same files)
# a task waits this long for an unreachable Redis (a restart, a failover) before it fails and
# Spark runs it again; meanwhile Kafka holds what comes next, so nothing is lost either way
SPEED_LAYER_PATIENCE_S = 120.0
# Offsets per file group. A constant, not a setting: a replay after a restart must cut the same
# groups, whatever the configuration is by then.
GROUP_OFFSETS = 100_000
LAKE_WRITERS = 8  # a task's lake files written at once (one per topic-partition and table)


class KafkaDeadLetters:
    """Dead letters to a Kafka topic as JSON, keyed by stream (at least once: a replay resends).

    The topic is a copy for consumers that want a stream of them; the lake keeps every dead
    letter regardless, so a delivery failure is reported (log, ``last_error``), not fatal.
    """

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        from confluent_kafka import Producer  # only executors with a dead-letter topic need it

        self.topic = topic
        self._producer = Producer({"bootstrap.servers": bootstrap_servers, "linger.ms": 50, "acks": "all",
                                   "message.timeout.ms": 30_000})  # fmt: skip
        self.failed = 0
        self.last_error = ""

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failed += 1
            self.last_error = str(err)

    def __call__(self, letters: list[DeadLetter]) -> None:
        for dl in letters:
            row = dl.as_row()
            row["received_at"] = dl.received_at.isoformat()
            self._producer.produce(self.topic, orjson.dumps(row), dl.stream.encode(), on_delivery=self._delivered)
            self._producer.poll(0)

    def flush(self, timeout: float = 60.0) -> str:
        """Wait for delivery; returns what went wrong since the last flush ("" when nothing)."""
        left = self._producer.flush(timeout)
        failed, self.failed = self.failed + left, 0
        if not failed:
            return ""
        error = f"{failed} dead letters not delivered to Kafka topic {self.topic}: {self.last_error or 'timeout'}"
        log.error(error)
        return error


@dataclass
class Resources:
    """What a Python worker keeps between tasks: connections and the compiled validator."""

    speed: SpeedLayer
    lake_fs: Any
    lake_root: str
    validator: Validator
    dead_letters: KafkaDeadLetters | None
    rules: RuleEngine | None = None  # one per worker: it caches the rule book between tasks


_resources: dict[tuple[Any, ...], Resources] = {}
_resources_lock = threading.Lock()


def resources(settings: Settings) -> Resources:
    """This worker's resources for ``settings``, built on first use (Spark reuses workers)."""
    key = (settings.secret("redis_url"), settings.redis_prefix, settings.lake_uri, runtime.s3_options(settings),
           settings.kafka_bootstrap_servers, settings.dead_letter_topic, settings.max_payload_bytes,
           settings.max_future_seconds, settings.active_window_seconds, settings.track_length,
           settings.rules_enabled, settings.alerts_prefix, settings.rules_reload_seconds)  # fmt: skip
    with _resources_lock:
        found = _resources.get(key)
        if found is None:
            fs, root = open_lake(settings.lake_uri, runtime.s3_options(settings))
            sink = None
            if settings.dead_letter_topic and settings.kafka_bootstrap_servers:
                sink = KafkaDeadLetters(settings.kafka_bootstrap_servers, settings.dead_letter_topic)
            client = runtime.redis_client(settings)
            speed = runtime.speed_layer(settings, client)
            rules = runtime.rule_engine(settings, client)
            found = _resources[key] = Resources(speed, fs, root, runtime.validator(settings), sink, rules)
        return found


@dataclass
class _Group:
    """Consecutive offsets of one topic-partition whose lake rows share one file per table."""

    key: tuple[str, int, int]
    stem: str
    batch: BatchProcessor


@dataclass(frozen=True)
class PartitionJob:
    """Processes one Spark partition of a micro-batch; yields one row of counts."""

    settings: Settings
    run_id: str
    group_offsets: int = GROUP_OFFSETS
    _streams: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_streams", self.settings.topic_streams())

    def __call__(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        began = time.monotonic()
        res = resources(self.settings)
        first = speed_done = 0.0
        accounting = Accounting()
        writer = self._processor(res, accounting, LakeWriter(res.lake_fs, res.lake_root))
        groups: dict[tuple[str, int, int], _Group] = {}
        done: list[_Group] = []  # groups whose last events wait for their speed-layer write
        # The speed layer first, the lake after, and neither waits for the other's I/O: an Arrow
        # batch's events go to Redis in one script call on a thread of their own while the next
        # Arrow batch is validated; a topic-partition's lake files are written (several at a
        # time) once its events are in the speed layer. Before, each topic-partition's S3 PUTs
        # came between the speed-layer writes of the next ones, on the micro-batch's critical path.
        with ThreadPoolExecutor(1, thread_name_prefix="speed") as speed, \
                ThreadPoolExecutor(LAKE_WRITERS, thread_name_prefix="lake") as lake:  # fmt: skip
            writing: Future[None] | None = None
            flushes: list[Future[None]] = []
            current: _Group | None = None
            for rb in batches:
                if rb.num_rows == 0:
                    continue
                first = first or time.monotonic()
                prepared, finished = Prepared(), []
                for group, events, now in self._slices(rb, groups, res, accounting):
                    if current is not None and group is not current:
                        finished.append(current)  # a topic-partition's range is read in one piece
                        del groups[current.key]  # seen again, a key gets a file of its own
                    current = group
                    _extend(prepared, group.batch.prepare(events, now))  # lake rows stay with their group
                if writing is not None:
                    writing.result()
                    flushes += [lake.submit(self._flush, g) for g in done]
                writing, done = speed.submit(writer.commit, prepared), finished
            if writing is not None:
                writing.result()
            speed_done = time.monotonic()
            flushes += [lake.submit(self._flush, g) for g in done + ([current] if current is not None else [])]
            for flushed in flushes:
                flushed.result()  # a lake that stays down fails the task (Spark runs it again)
        if res.dead_letters is not None and (error := res.dead_letters.flush()):
            accounting.last_error = error
        snapshot = accounting.snapshot()
        end = time.monotonic()
        # where the task's time went (the driver logs the slowest task's): waiting for the first
        # Kafka records, until the last speed-layer write, until the lake files are written
        snapshot["task_s"] = {
            "first_records": round((first or end) - began, 3),
            "speed_layer": round((speed_done or end) - began, 3),
            "all": round(end - began, 3),
        }
        latencies = list(accounting.latencies_ms)
        yield pa.RecordBatch.from_arrays(
            [pa.array([orjson.dumps(snapshot).decode()]), pa.array([latencies], pa.list_(pa.float64()))],
            schema=RESULT_SCHEMA,
        )

    def _slices(
        self, rb: pa.RecordBatch, groups: dict[tuple[str, int, int], _Group], res: Resources, acc: Accounting
    ) -> Iterator[tuple[_Group, list[RawEvent], datetime]]:
        """An Arrow batch of Kafka records cut into runs of one file group each, as events."""
        topic = rb.column("topic").to_pylist()
        part = rb.column("partition").to_pylist()
        offset = rb.column("offset").to_pylist()
        value = rb.column("value").to_pylist()
        produced_us = rb.column("timestamp").cast(pa.int64()).to_pylist()  # microseconds
        now = _instant(rb.column("batch_time")[0].cast(pa.int64()).as_py())
        start = 0
        n = rb.num_rows
        while start < n:
            key = (topic[start], part[start], offset[start] // self.group_offsets)
            end = start + 1
            while end < n and (topic[end], part[end], offset[end] // self.group_offsets) == key:
                end += 1
            group = groups.get(key)
            if group is None:
                group = groups[key] = self._open(key, offset[start], res, acc)
            stream = self._streams.get(key[0], key[0])
            source = f"kafka:{key[0]}/{key[1]}@"
            yield (
                group,
                [
                    RawEvent(
                        stream,
                        value[i] if value[i] is not None else b"",
                        source + str(offset[i]),
                        produced_us[i] / 1e6 if produced_us[i] > 0 else 0.0,  # -1: a client set none
                    )
                    for i in range(start, end)
                ],
                now,
            )
            start = end

    def _processor(self, res: Resources, acc: Accounting, lake: LakeWriter) -> BatchProcessor:
        return BatchProcessor(res.speed, lake, res.validator, acc, dead_letter_sink=res.dead_letters,
                              speed_layer_patience_s=SPEED_LAYER_PATIENCE_S, rules=res.rules)  # fmt: skip

    def _open(self, key: tuple[str, int, int], first_offset: int, res: Resources, acc: Accounting) -> _Group:
        lake = LakeWriter(res.lake_fs, res.lake_root, max_rows=1 << 62, max_age_s=float("inf"))
        return _Group(key, f"{self.run_id}-{key[0]}-{key[1]}-{first_offset:012d}", self._processor(res, acc, lake))

    def _flush(self, group: _Group) -> None:
        """Write the group's lake files, retrying; a lake that stays down fails the task."""
        delay = 1.0
        for attempt in range(LAKE_ATTEMPTS):
            group.batch.flush_lake(group.stem, force=True)
            if group.batch.lake.buffered_rows == 0:
                return
            if attempt < LAKE_ATTEMPTS - 1:
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        error = group.batch.accounting.last_error
        raise LakeWriteError(
            f"lake files part-{group.stem}.parquet not written after {LAKE_ATTEMPTS} tries: {error}", {}
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _extend(into: Prepared, part: Prepared) -> None:
    """Add one topic-partition's validated events to the Arrow batch's speed-layer write."""
    into.oks.extend(part.oks)
    for stream, records in part.per_stream.items():
        into.per_stream[stream].extend(records)
    into.produced_at.extend(part.produced_at)
    into.dead.extend(part.dead)


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
