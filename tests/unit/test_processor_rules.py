"""The embedded processor's rule engine runs beside it: a rule engine waiting on Redis never
holds the speed layer back, the batches it fell behind on are evaluated at once, and every alert
still reaches the alert log and the lake, the same alerts as batch by batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import fakeredis
import orjson

from pipeline.bus import InProcessBus
from pipeline.lake import LakeWriter, open_lake, read_table
from pipeline.processor import BatchProcessor, Processor, RawEvent
from pipeline.schemas import ALERTS
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Record
from tests.unit.test_rules import INSIDE, OUTSIDE, T0, Setup, zone

CARS = 20


def batches() -> list[list[bytes]]:
    """Three batches: 20 cars outside the zone, then inside (20 entries), then outside (20 exits)."""
    return [
        [orjson.dumps({"device_id": f"car-{i}", "timestamp": (T0 + timedelta(seconds=step)).isoformat(),
                       "location": where, "speed": 30, "vehicle_type": "car"}) for i in range(CARS)]
        for step, where in enumerate((OUTSIDE, INSIDE, OUTSIDE))
    ]  # fmt: skip


def with_rules(s: Setup) -> None:
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id})
    s.book.add_rule({"name": "out", "kind": "zone_exit", "zone": zone_id})


def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_stalled_rule_engine_holds_back_neither_the_speed_layer_nor_any_alert(tmp_path: Path) -> None:
    s = Setup()
    with_rules(s)
    gate, calls = threading.Event(), []
    evaluate = s.engine.evaluate

    def stalled(records: Mapping[str, Sequence[Record]], accounting: Any = None) -> list[dict[str, Any]]:
        calls.append(len(records.get("vehicle_data", ())))
        gate.wait(30)  # the rule state's Redis busy, or slow
        return evaluate(records, accounting)

    s.engine.evaluate = stalled  # type: ignore[method-assign]
    lake_dir = tmp_path / "lake"
    batch = BatchProcessor(SpeedLayer(s.client, "c:"), LakeWriter(*open_lake(str(lake_dir))), rules=s.engine)
    bus = InProcessBus(["vehicle_data"])
    processor = Processor(bus, batch)
    processor.start()
    try:
        for n, values in enumerate(batches(), 1):
            bus.produce_many("vehicle_data", [(None, v) for v in values])

            def applied(n: int = n) -> bool:
                return batch.accounting.snapshot()["streams"]["vehicle_data"]["speed_layer"] == n * CARS

            until(applied, f"batch {n} in the speed layer while the rules wait")
        assert calls == [CARS]  # the first batch in the engine, the others waiting behind it
        assert processor.rules_lag() == 3 * CARS  # what the System tab says is still to be checked
        gate.set()
        until(lambda: processor.rules_lag() == 0, "the rule engine caught up")
    finally:
        assert processor.stop(30)
    # the two batches it fell behind on, in one evaluation
    assert calls == [CARS, 2 * CARS]
    expected = Setup()
    with_rules(expected)
    inline = BatchProcessor(SpeedLayer(expected.client, "c:"), LakeWriter(*open_lake(str(tmp_path / "inline"))),
                            rules=expected.engine)  # fmt: skip
    for values in batches():
        inline.process([RawEvent("vehicle_data", v) for v in values])
    inline.flush_lake(force=True)
    want = sorted((a["kind"], a["entity"], a["time"]) for a in expected.log.list("all"))  # rule ids differ
    assert len(want) == 2 * CARS  # every car entered and left
    assert sorted((a["kind"], a["entity"], a["time"]) for a in s.log.list("all")) == want
    assert batch.accounting.alerts == 2 * CARS
    lake = read_table(*open_lake(str(lake_dir)), ALERTS).to_pylist()
    assert sorted((row["kind"], row["entity"], row["event_time"].isoformat()) for row in lake) == want


def test_a_processor_without_rules_starts_no_rule_thread(tmp_path: Path) -> None:
    batch = BatchProcessor(SpeedLayer(fakeredis.FakeRedis()), LakeWriter(*open_lake(str(tmp_path / "lake"))))
    processor = Processor(InProcessBus(["vehicle_data"]), batch)
    processor.start()
    try:
        until(lambda: any(t.name == "smartcity-speed-writer" for t in threading.enumerate()), "the writer")
        assert not any(t.name == "smartcity-rules" for t in threading.enumerate())
        assert processor.rules_lag() is None
    finally:
        assert processor.stop(30)
