"""Stream processing: the per-batch logic (shared with the Spark job) and the embedded loop.

``BatchProcessor.process`` is the whole semantics of one micro-batch: validate, dead
letters to the lake (and the newest few to the speed layer, for the console), valid
events to the speed layer and the lake, zones and alert rules (``pipeline.rules``), accounting. The
embedded ``Processor`` thread feeds it from the in-process bus; the Spark job feeds it
from Kafka partitions. Nothing raises out of ``process`` for bad data.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pipeline.accounting import Accounting, StatusPublisher
from pipeline.backlog import REDIS_ERRORS, Backoff, SpeedBacklog, transient
from pipeline.bus import InProcessBus
from pipeline.exceptions import LakeWriteError, SpeedLayerUnavailable
from pipeline.lake import DEADLETTER, LakeWriter
from pipeline.rules import RuleEngine, lake_rows
from pipeline.schemas import ALERTS
from pipeline.speed_layer import Chunk, SpeedLayer
from pipeline.validation import DeadLetter, Record, Validator

log = logging.getLogger(__name__)


class RawEvent(NamedTuple):
    """One event as it arrived: which stream (topic), the raw payload, who sent it (a named
    tuple: made per event, it costs a fifth of a frozen dataclass)."""

    stream: str
    value: bytes | str | Mapping[str, Any]
    source: str = ""
    produced_at: float = 0.0


@dataclass
class Prepared:
    """A validated micro-batch waiting for its speed-layer write."""

    oks: list[tuple[str, Record]] = field(default_factory=list)
    per_stream: dict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    produced_at: list[float] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    chunks: list[Chunk] | None = None  # its speed-layer calls, when encoded before the writer takes it
    now: datetime | None = None  # its ingest time (its alerts' ``raised_at``)

    @staticmethod
    def joined(batches: Sequence[Prepared]) -> Prepared:
        """Consecutive batches' valid events as one batch (for the rules: ``oks`` and
        ``per_stream`` in order, the newest ``now``)."""
        if len(batches) == 1:
            return batches[0]
        out = Prepared(now=batches[-1].now)
        for b in batches:
            out.oks += b.oks
            for stream, records in b.per_stream.items():
                out.per_stream[stream] += records
        return out


class BatchProcessor:
    """Validates a micro-batch and folds it into the speed layer and the lake."""

    def __init__(
        self,
        speed_layer: SpeedLayer,
        lake: LakeWriter,
        validator: Validator | None = None,
        accounting: Accounting | None = None,
        speed_layer_retries: int = 3,
        dead_letter_sink: Callable[[list[DeadLetter]], None] | None = None,
        speed_layer_patience_s: float = 0.0,
        rules: RuleEngine | None = None,
    ) -> None:
        """``rules``, when given, evaluates zones and alert rules on each batch's valid events
        (alerts to the alert log and the lake's ``alerts`` table; see ``pipeline.rules``).

        ``dead_letter_sink``, when given, also receives every batch's dead letters
        (e.g. a Kafka dead-letter topic); the lake gets them either way.

        ``speed_layer_patience_s``: how long ``commit`` keeps trying a speed layer that is
        unreachable. 0: a few quick tries, then the write is counted as failed (the lake has
        the events). More: it waits up to that long, then raises ``SpeedLayerUnavailable`` —
        for a caller that can run the batch again, as Spark does a failed task."""
        self.speed_layer = speed_layer
        self.lake = lake
        self.validator = validator or Validator()
        self.accounting = accounting or Accounting()
        self.retries = speed_layer_retries
        self.patience_s = speed_layer_patience_s
        self.dead_letter_sink = dead_letter_sink
        self.rules = rules
        self._lake_retry_at = 0.0
        self._lake_backoff = 0.0

    def process(self, events: Sequence[RawEvent], now: datetime | None = None) -> None:
        """Handle one micro-batch. Redis outages are retried, then counted, never raised."""
        self.commit(self.prepare(events, now))

    def prepare(self, events: Sequence[RawEvent], now: datetime | None = None, rules: bool = True) -> Prepared:
        """Validate, buffer lake rows and dead letters, evaluate the rules (``rules``: else the
        caller runs ``evaluate_rules`` on the result, e.g. on its own thread); the speed-layer
        write is ``commit``.

        ``now`` is the batch's ingest time (default: the clock). A caller that may replay a
        batch passes the same ``now`` each time, so the replay writes identical rows.
        """
        now = now or datetime.now(UTC)
        validate = self.validator.validate
        prepared = Prepared(now=now)
        oks, per_stream, dead = prepared.oks, prepared.per_stream, prepared.dead
        skewed: list[tuple[str, Record]] = []  # kept with their clocks running ahead
        for stream, value, source, _ in events:
            out = validate(stream, value, source, now)
            if isinstance(out, dict):
                oks.append((stream, out))
                per_stream[stream].append(out)
                if out.get("clock_skew_s"):
                    skewed.append((stream, out))
            else:
                dead.append(out)
        prepared.produced_at = [ev.produced_at for ev in events if ev.produced_at]
        received = Counter({stream: len(records) for stream, records in per_stream.items()})
        received.update(dl.stream for dl in dead)  # every event is valid or a dead letter of its stream
        self.lake.add_dead_letters(dead)
        if dead and self.dead_letter_sink is not None:
            self.dead_letter_sink(dead)
        for stream, records in per_stream.items():
            self.lake.add(stream, records)
        if rules:
            self.evaluate_rules(prepared)
        acc = self.accounting
        with acc.lock:
            acc.batches += 1
            for stream, n in received.items():
                acc.stream(stream).received += n
            for dl in dead:
                acc.stream(dl.stream).dead_letters += 1
            for stream, records in per_stream.items():
                counts = acc.stream(stream)
                counts.valid += len(records)
                newest = int(max(r["event_time"] for r in records).timestamp() * 1000)
                counts.last_event_ms = max(counts.last_event_ms, newest)
            for stream, rec in skewed:
                acc.clock_ahead(stream, rec["device_id"], rec["clock_skew_s"], rec["event_time"])
        return prepared

    def evaluate_rules(self, prepared: Prepared) -> None:
        """The zones and alert rules on a prepared batch's valid events: new alerts to the alert
        log and the lake's ``alerts`` table. Never raises: rules are best effort."""
        if self.rules is not None and prepared.oks:
            alerts = self.rules.evaluate(prepared.per_stream, self.accounting)
            if alerts:
                self.lake.add(ALERTS, lake_rows(alerts, prepared.now or datetime.now(UTC)))

    def commit(self, prepared: Prepared) -> None:
        """Write a prepared batch's valid events (and its newest dead letters, in the same
        call) to the speed layer and count them."""
        written = self._write_speed_layer(prepared.oks, prepared.dead)
        done = time.time()
        acc = self.accounting
        with acc.lock:
            if written:
                for stream, records in prepared.per_stream.items():
                    acc.stream(stream).speed_layer += len(records)
                acc.latencies_ms.extend((done - t) * 1000 for t in prepared.produced_at)

    def _write_speed_layer(self, oks: list[tuple[str, Record]], dead: list[DeadLetter]) -> bool:
        if not oks and not dead:
            return True
        backoff = Backoff()
        deadline = time.monotonic() + self.patience_s
        attempt = 0
        while True:
            try:
                self.speed_layer.write(oks, dead)
                return True
            except REDIS_ERRORS as exc:
                with self.accounting.lock:
                    self.accounting.last_error = f"speed layer: {exc}"
                attempt += 1
                outage = transient(exc)
                if attempt > self.retries and not (outage and time.monotonic() < deadline):
                    break
                if attempt == self.retries + 1:
                    log.warning("speed layer unreachable (%s): waiting up to %.0f s for it", exc, self.patience_s)
                backoff.failed()
                time.sleep(backoff.wait())
        if outage and self.patience_s > 0:  # e.g. a Spark task: failing it makes Spark run it again
            why = self.accounting.last_error
            raise SpeedLayerUnavailable(f"speed layer unreachable for {self.patience_s:.0f} s: {why}")
        # The events are still in the lake; the speed layer can be rebuilt from it.
        with self.accounting.lock:
            self.accounting.speed_layer_errors += 1
        log.error("speed layer write failed after %d tries: %s", attempt, self.accounting.last_error)
        return False

    def flush_lake(self, file_stem: str | None = None, force: bool = False) -> dict[str, int]:
        """Write buffered lake rows; returns rows written per table and counts them.

        After a failure, further attempts wait (1 s, doubling to 30 s) unless ``force``.
        """
        now = time.monotonic()
        if not force and now < self._lake_retry_at:
            return {}
        try:
            written = self.lake.flush(file_stem)
            self._lake_backoff = 0.0
        except LakeWriteError as exc:  # rows not written stay buffered for the next flush
            written = exc.written
            self._lake_backoff = min(30.0, max(1.0, self._lake_backoff * 2))
            self._lake_retry_at = now + self._lake_backoff
            with self.accounting.lock:
                self.accounting.lake_errors += 1
                self.accounting.last_error = f"lake: {exc}"
            log.error("lake flush failed, retrying in %.0f s: %s", self._lake_backoff, exc)
        with self.accounting.lock:
            for table, n in written.items():
                if table not in (DEADLETTER, ALERTS):
                    self.accounting.stream(table).lake_rows += n
            if written:
                self.accounting.lake_written_ms = int(time.time() * 1000)
        return written


class Processor(threading.Thread):
    """The embedded mode's stream processor: bus -> BatchProcessor, in micro-batches.

    Validation and encoding of batch N+1 overlap the speed-layer write of batch N (a second
    thread waits on Redis while this one validates and encodes), so Python and Redis use both cores. The
    writer thread applies a ``SpeedBacklog``: while Redis is away this thread goes on
    validating and buffering lake rows, and the speed layer catches up when Redis returns.
    The rule engine, when there is one, has a thread of its own: its state is read and written
    in Redis once per batch, and those calls wait behind the speed layer's; on this thread they
    would stall validation (``benchmarks.pipeline``, 100 zones and 100 rules: 0.81 of the
    events/s without rules when evaluated here, 0.89 on their own thread).
    It takes the batches this thread has validated (eight at most behind), all those waiting at once.
    A fourth thread writes the lake: a flush takes the buffered rows as one frozen batch
    (``LakeWriter.flush``) and encodes and writes it while this thread goes on, so the
    speed path never waits for Parquet. One batch is written at a time and memory is
    bounded: at ``3 * max_rows`` rows held (buffered or being written: the lake failing, or
    slower than the input) this thread stops reading, so the bus pushes back on producers.
    A ``publisher``, when set, publishes the processor's status from this loop about once a
    second: a processor whose loop is stuck stops publishing and shows as stale.
    No exception ends either thread: an unexpected one is logged (once per kind) and the
    loop goes on after a pause.
    """

    def __init__(
        self,
        bus: InProcessBus,
        batch: BatchProcessor,
        topic_streams: Mapping[str, str] | None = None,
        max_batch: int = 5000,
        poll_timeout: float = 0.05,
        backlog_bytes: int = 256 << 20,
        final_drain_s: float = 10.0,
    ) -> None:
        super().__init__(name="smartcity-processor", daemon=True)
        self.bus = bus
        self.batch = batch
        self.topic_streams = dict(topic_streams or {t: t for t in bus.topics})
        self.max_batch = max_batch
        self.poll_timeout = poll_timeout
        self.backlog = SpeedBacklog(batch.speed_layer, batch.accounting, backlog_bytes)
        self.final_drain_s = final_drain_s
        self._stop_event = threading.Event()
        self._pending: queue.Queue[Prepared | None] = queue.Queue(maxsize=2)
        self._writer = threading.Thread(target=self._write_loop, name="smartcity-speed-writer", daemon=True)
        self._lake_writer = threading.Thread(target=self._lake_loop, name="smartcity-lake-writer", daemon=True)
        self._to_rules: queue.Queue[Prepared | None] = queue.Queue(maxsize=8)
        self._rules_lag = 0  # valid events handed to the rule engine and not evaluated yet
        self._rules_lag_lock = threading.Lock()
        self._rules = None
        if batch.rules is not None:
            self._rules = threading.Thread(target=self._rules_loop, name="smartcity-rules", daemon=True)
        self._lake_due = threading.Event()  # set by this thread: the buffer is due (or full)
        self._lake_done = threading.Event()  # set by the lake writer after each flush attempt
        self._lake_stop = threading.Event()
        self.stopped = threading.Event()
        self.publisher: StatusPublisher | None = None
        self._failures = Failures()

    @property
    def accounting(self) -> Accounting:
        return self.batch.accounting

    def rules_lag(self) -> int | None:
        """Valid events already in the speed layer that the rule engine has not evaluated yet
        (their alerts are still to come); None without a rule engine."""
        return None if self._rules is None else self._rules_lag

    def _rules_owe(self, events: int) -> None:
        with self._rules_lag_lock:
            self._rules_lag += events

    def lag(self) -> dict[str, int]:
        """Events waiting on the bus per stream (a stream may read several topics)."""
        lag: dict[str, int] = {}
        for topic, n in self.bus.depth().items():
            stream = self.topic_streams.get(topic, topic)
            lag[stream] = lag.get(stream, 0) + n
        return lag

    def run(self) -> None:
        self._writer.start()
        self._lake_writer.start()
        if self._rules is not None:
            self._rules.start()
        try:
            while not self._stop_event.is_set():
                self._guarded(self._step)
            while self._guarded(self._step, on_error=False):  # drain what producers left before stopping
                pass
        finally:
            self._pending.put(None)
            self._writer.join()
            if self._rules is not None:
                self._to_rules.put(None)
                self._rules.join()  # its alerts in the lake's buffer before the last flush
            self._lake_stop.set()
            self._lake_due.set()
            self._lake_writer.join()  # its batch in flight written (or back in the buffer)
            self._guarded(lambda: bool(self.batch.flush_lake(force=True)))
            if self.publisher is not None:
                self.publisher.publish("stopped")
            self.stopped.set()

    def _guarded(self, step: Callable[[], bool], on_error: bool = True) -> bool:
        """Run one step; an unexpected exception is logged and paused on, never raised
        (the step's result then is ``on_error``)."""
        try:
            result = step()
        except Exception as exc:
            self._failures.failed("processor", exc)
            time.sleep(0.5)
            return on_error
        self._failures.ok("processor")
        return result

    def _write_loop(self) -> None:
        backlog = self.backlog
        while True:
            try:
                prepared = self._pending.get(timeout=backlog.backoff.wait() if backlog.pending else None)
            except queue.Empty:
                prepared = Prepared()  # nothing new: time to try the backlog again
            if prepared is None:
                break
            try:
                if prepared.oks or prepared.dead:
                    backlog.add(prepared.oks, prepared.dead, prepared.produced_at, prepared.chunks)
                backlog.drain()
                self._failures.ok("speed-layer writer")
            except Exception as exc:
                self._failures.failed("speed-layer writer", exc)
                time.sleep(0.5)
        # stopping: a last chance for what Redis has not taken yet
        deadline = time.monotonic() + self.final_drain_s
        while backlog.pending and time.monotonic() < deadline:
            if not backlog.drain():
                time.sleep(min(backlog.backoff.wait() or 0.1, max(0.0, deadline - time.monotonic())))
        if backlog.pending:
            log.error("stopping with %d events never applied to the speed layer (Redis away); the lake has them",
                      self.accounting.speed_layer_pending)  # fmt: skip

    def _rules_loop(self) -> None:
        """Evaluate the batches waiting, all of them at once (one read and one write of the rule
        state for them all), so that the more this thread falls behind the fewer round trips it
        makes; until stopped."""
        stopping = False
        while not stopping:
            waiting: list[Prepared] = []
            item = self._to_rules.get()
            while item is not None:
                waiting.append(item)
                try:
                    item = self._to_rules.get_nowait()
                except queue.Empty:
                    break
            stopping = item is None
            if not waiting:
                continue
            try:
                self.batch.evaluate_rules(Prepared.joined(waiting))
                self._failures.ok("rules")
            except Exception as exc:  # evaluate never raises; writing the alerts' lake rows might
                self._failures.failed("rules", exc)
            finally:
                self._rules_owe(-sum(len(p.oks) for p in waiting))

    def _lake_loop(self) -> None:
        """Flush the lake when it is due (checked on a nudge, and every 0.1 s for its age)
        until stopped; a failed flush leaves its rows buffered and backs off."""
        lake = self.batch.lake
        while not self._lake_stop.is_set():
            self._lake_due.wait(0.1)
            self._lake_due.clear()
            if not self._lake_stop.is_set() and lake.due():
                try:
                    self.batch.flush_lake()
                    self._failures.ok("lake writer")
                except Exception as exc:
                    self._failures.failed("lake writer", exc)
                    time.sleep(0.5)
                self._lake_done.set()

    def _step(self) -> bool:
        if self.publisher is not None:
            self.publisher.maybe_publish()
        lake = self.batch.lake
        if lake.held_rows >= 3 * lake.max_rows:
            # The lake is failing or behind: stop taking events, so the bus pushes back on
            # producers instead of this process buffering without bound. Resume once a flush lands.
            self._lake_done.clear()
            self._lake_due.set()
            self._lake_done.wait(min(1.0, self.poll_timeout * 10))
            if lake.held_rows >= 3 * lake.max_rows:
                return True
        messages = self.bus.consume(self.max_batch, self.poll_timeout)
        if messages:
            streams = self.topic_streams
            events = [RawEvent(streams.get(m.topic, m.topic), m.value, m.source, m.produced_at) for m in messages]
            prepared = self.batch.prepare(events, rules=self._rules is None)
            # encoded here, so that the writer thread only waits on Redis: Redis runs a batch's
            # calls while this thread validates and encodes the next
            prepared.chunks = self.batch.speed_layer.encode(prepared.oks, prepared.dead)
            rules = self._rules is not None
            if rules:  # owed before the speed layer can have them
                self._rules_owe(len(prepared.oks))
            self._pending.put(prepared)  # blocks while the writer is 2 behind
            if rules:
                self._to_rules.put(prepared)  # the same for the rule engine
            if lake.due():
                self._lake_due.set()
        return bool(messages)

    def stop(self, timeout: float = 30.0) -> bool:
        """Drain the bus, flush the lake, and stop; True when done within ``timeout``."""
        self._stop_event.set()
        return self.stopped.wait(timeout)


class Failures:
    """Logs a loop's unexpected exceptions once per kind until the loop succeeds again."""

    def __init__(self) -> None:
        self._failing: dict[str, str] = {}

    def failed(self, where: str, exc: Exception) -> None:
        kind = f"{type(exc).__name__}: {exc}"[:200]
        if self._failing.get(where) != kind:
            log.exception("%s failed; going on after a pause", where)
            self._failing[where] = kind

    def ok(self, where: str) -> None:
        if self._failing.pop(where, None) is not None:
            log.warning("%s recovered", where)
