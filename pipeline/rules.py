"""The rule engine: zones and alert rules evaluated on each micro-batch's valid events.

One implementation for both modes: ``BatchProcessor.evaluate_rules`` calls ``RuleEngine.evaluate``
(from ``prepare`` in a Spark job's executors; on a thread of its own in the embedded processor),
so both run the same code. The rule book compiled for evaluation: ``pipeline.compiled_book``; one
batch's evaluation, and the state it keeps in Redis: ``pipeline.rule_batch``.

Alerts fire on crossing, not on every event: a vehicle entering or leaving a zone, a vehicle
going above a speed in a zone (once, until it drops back below or leaves), a segment staying at a
congestion level for M minutes (once, until it eases), a station's AQI going above a threshold
(once, until it drops back). Built in: a new high/critical incident (``incident:<id>``, once
ever) and a weather advisory (an ``advisory`` field in a station's event, once per new text).

Best effort, never in the way: the rule state and the alert log are a convenience beside the
speed layer and the lake, so ``evaluate`` never raises. When Redis does not answer, the batch
goes on without its rules (its events reach the lake as ever, and the speed layer through the
processor's own retries); the failure is counted (``Accounting.rules_errors``) and logged once
until it recovers, and crossings within that batch are not alerted. A rule or zone the engine
cannot use is skipped, logged once. Alert ids are deterministic (``sha1(rule, entity, event
id)``), and the alert log keeps each id once, so a replayed batch raises nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from importlib import resources
from typing import Any

from pipeline.accounting import Accounting
from pipeline.alerts import AlertLog
from pipeline.compiled_book import Compiled, compile_book
from pipeline.rule_batch import SEP, Batch, State, alert_id
from pipeline.rulebook import RuleBook
from pipeline.validation import Record

__all__ = ["SEP", "RuleEngine", "alert_id", "by_stream", "compile_book", "lake_rows"]

log = logging.getLogger(__name__)

SERIOUS = frozenset({"high", "critical"})
PARSED_KEPT = 100_000  # vehicle states kept parsed between batches (beyond: forgotten, parsed again)

_READ = resources.files("pipeline").joinpath("rule_state_read.lua").read_text(encoding="utf-8")
_WRITE = resources.files("pipeline").joinpath("rule_state_write.lua").read_text(encoding="utf-8")


class RuleEngine:
    """Evaluates the rule book on micro-batches; one per processor (it caches the book)."""

    def __init__(
        self,
        book: RuleBook,
        alerts: AlertLog,
        reload_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        active_s: float = 120.0,
    ) -> None:
        """``active_s``: the speed layer's active window (event time). A vehicle silent for
        between one and two of them is forgotten (its speed rules fired, and its time and type
        when it was outside every zone): seen again outside, it starts afresh, as a vehicle seen
        for the first time; one forgotten inside zones keeps them, its type and time (parked,
        the newest ``rule_batch.PARKED_KEPT``), so it leaves them, or stays, without first entering them
        (0: never forgotten)."""
        self.book = book
        self.alerts = alerts
        self.reload_s = reload_s
        self.clock = clock
        self.window_ms = int(active_s * 1000)
        base = book.base
        self.inside_key, self.latch_key = f"{base}:inside", f"{base}:latch"
        self.congestion_key, self.incidents_key = f"{base}:congestion", f"{base}:incidents"
        self.inside_before_key, self.window_key = f"{base}:inside:before", f"{base}:window"
        self.parked_key, self.parked_since_key = f"{base}:parked", f"{base}:parked:since"
        self.state_keys = [self.inside_key, self.latch_key, self.congestion_key, self.incidents_key,
                           self.inside_before_key, self.window_key, self.parked_key, self.parked_since_key]  # fmt: skip
        self._read = book.client.register_script(_READ)
        self._write = book.client.register_script(_WRITE)
        self._compiled: Compiled | None = None
        self._parsed: tuple[Compiled, dict[str, int], dict[str, State | None]] | None = None  # ``_parsed_for``
        self._checked = float("-inf")
        self._failing: set[str] = set()

    # -- the rule book --------------------------------------------------------------------------------------------

    def current(self) -> Compiled:
        """The rule book, reloaded when its version moved (checked at most every ``reload_s``)."""
        now = self.clock()
        if self._compiled is not None and now - self._checked < self.reload_s:
            return self._compiled
        version = self.book.version()
        self._checked = now
        if self._compiled is None or version != self._compiled.version:
            self._compiled = compile_book(self.book.load(), self._skip)
            log.info("rule book version %d: %d zones, %d rules in use", self._compiled.version,
                     len(self._compiled.zone_ids), self._rule_count(self._compiled))  # fmt: skip
        return self._compiled

    def _parsed_for(self, book: Compiled) -> tuple[dict[str, int], dict[str, State | None]]:
        """The zones' indexes by id, and the vehicle states read so far (text -> ``State``),
        for ``book``: kept between batches (up to ``PARSED_KEPT``), since most states do not change."""
        if self._parsed is None or self._parsed[0] is not book or len(self._parsed[2]) > PARSED_KEPT:
            self._parsed = (book, {zone_id: i for i, zone_id in enumerate(book.zone_ids)}, {})
        return self._parsed[1], self._parsed[2]

    @staticmethod
    def _rule_count(c: Compiled) -> int:
        zoned = sum(len(r) for group in (c.enter, c.exit, c.speed) for r in group.values())
        return zoned + len(c.congestion) + len(c.aqi)

    def _skip(self, what: str, why: str) -> None:
        if what not in self._failing:
            self._failing.add(what)
            log.warning("%s skipped by the rule engine: %s", what, why)

    # -- a batch -------------------------------------------------------------------------------------------------

    def evaluate(
        self, records: Mapping[str, Sequence[Record]], accounting: Accounting | None = None
    ) -> list[dict[str, Any]]:
        """The new alerts of a batch's valid records (by stream, as ``Prepared.per_stream``):
        already in the alert log, each with the lake row's ``event_id``, ``latitude`` and
        ``longitude`` beside the contract's fields. Never raises."""
        try:
            hits = self._evaluate(records)
            new_ids = {a["id"] for a in self.alerts.add(a for a, _ in hits)} if hits else set()
        except Exception as exc:  # Redis away, or a bug: the batch goes on without its rules
            if accounting is not None:
                with accounting.lock:
                    accounting.rules_errors += 1
                    accounting.last_error = f"rules: {exc}"
            if "evaluate" not in self._failing:
                self._failing.add("evaluate")
                log.error("rules not evaluated (the batch goes on without them): %s", exc, exc_info=True)
            return []
        if "evaluate" in self._failing:
            self._failing.discard("evaluate")
            log.warning("rules evaluated again")
        out = [{**alert, **where} for alert, where in hits if alert["id"] in new_ids]
        if accounting is not None and out:
            with accounting.lock:
                accounting.alerts += len(out)
        return out

    def _evaluate(self, records: Mapping[str, Sequence[Record]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        book = self.current()
        vehicles: list[Record] = []
        if book.zoned:
            vehicles = [*records.get("vehicle_data", ())]
            vehicles += [r for r in records.get("gps_data", ()) if r.get("latitude") is not None]
        traffic = records.get("traffic_data", ()) if book.congestion else ()
        weather = records.get("weather_data", ())
        incidents = [r for r in records.get("emergency_data", ())
                     if r.get("severity") in SERIOUS and r.get("status") == "Active"]  # fmt: skip
        if not (vehicles or traffic or weather or incidents):
            return []
        batch = Batch(self, book)
        batch.plan(vehicles, traffic, weather, incidents)
        batch.read()
        batch.run()
        batch.write()
        return batch.hits


def by_stream(records: Sequence[tuple[str, Record]]) -> dict[str, list[Record]]:
    """``(stream, record)`` pairs grouped by stream, as ``evaluate`` takes them."""
    out: dict[str, list[Record]] = defaultdict(list)
    for stream, rec in records:
        out[stream].append(rec)
    return out


def lake_rows(alerts: Sequence[dict[str, Any]], raised_at: datetime) -> list[Record]:
    """The ``alerts`` lake table's rows for ``evaluate``'s alerts."""
    return [
        {"alert_id": a["id"], "kind": a["kind"], "severity": a["severity"], "message": a["message"],
         "event_time": datetime.fromisoformat(a["time"]), "entity": a["entity"], "rule": a["rule"],
         "event_id": a.get("event_id"), "latitude": a.get("latitude"), "longitude": a.get("longitude"),
         "raised_at": raised_at}
        for a in alerts
    ]  # fmt: skip
