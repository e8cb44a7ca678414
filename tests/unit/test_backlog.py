"""The speed layer's backlog: writes kept while Redis is away, applied in order when it returns."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest
import redis
from pyarrow import fs as pafs
from redis.exceptions import RedisClusterException

from pipeline.accounting import Accounting
from pipeline.backlog import SpeedBacklog, transient
from pipeline.bus import InProcessBus
from pipeline.exceptions import SpeedLayerUnavailable
from pipeline.lake import LakeWriter
from pipeline.processor import BatchProcessor, Processor, RawEvent
from pipeline.speed_layer import SpeedLayer, SpeedLayerConfig
from tests.city import rec

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)


RAW_CAR_A = {"device_id": "car-a", "timestamp": BASE.isoformat(), "location": [52.44, 13.52], "speed": 10.0}


def gps(vehicle: str, ago_s: float, speed: float) -> tuple[str, dict[str, Any]]:
    return rec("gps_data", ago_s, device_id=vehicle, location=[52.44, 13.52 + speed / 1e4], speed=speed)


def down_and_up() -> tuple[fakeredis.FakeServer, SpeedLayer]:
    server = fakeredis.FakeServer()
    return server, SpeedLayer(fakeredis.FakeRedis(server=server), "b:", SpeedLayerConfig(chunk=2))


def test_writes_kept_while_redis_is_away_land_in_order_when_it_returns() -> None:
    server, speed = down_and_up()
    acc = Accounting()
    backlog = SpeedBacklog(speed, acc)
    server.connected = False
    backlog.add([gps("car-a", 30, 10.0), gps("car-b", 30, 11.0), gps("car-a", 20, 20.0)], [], [time.time()])
    backlog.add([gps("car-a", 10, 30.0)], [], [])
    assert not backlog.drain(force=True)
    assert backlog.pending == 3 and acc.speed_layer_pending == 4 and acc.speed_layer_down_since_ms > 0
    assert acc.stream("gps_data").speed_layer == 0 and "speed layer" in acc.last_error
    server.connected = True
    assert backlog.drain(force=True)
    assert backlog.pending == 0 and acc.speed_layer_pending == 0 and acc.speed_layer_down_since_ms == 0
    assert acc.stream("gps_data").speed_layer == 4
    car = speed.vehicle("car-a")
    assert car is not None and float(car["speed"]) == 30.0  # the newest event won
    assert [p[2] for p in car["track"]] == sorted((p[2] for p in car["track"]), reverse=True)
    assert len(car["track"]) == 3


def test_between_failures_only_one_try_per_backoff_delay_goes_out() -> None:
    server, speed = down_and_up()
    backlog = SpeedBacklog(speed, Accounting())
    server.connected = False
    backlog.add([gps("car-a", 5, 10.0)], [], [])
    assert not backlog.drain(force=True)
    server.connected = True
    assert not backlog.drain()  # still inside the delay: not tried
    assert backlog.backoff.wait() > 0
    assert backlog.drain(force=True)


def test_a_full_backlog_drops_its_oldest_writes_and_counts_them() -> None:
    server, speed = down_and_up()
    acc = Accounting()
    backlog = SpeedBacklog(speed, acc, max_bytes=1)
    server.connected = False
    for i in range(5):
        backlog.add([gps(f"car-{i}", 5, 10.0)], [], [])
    assert backlog.pending == 1  # the newest call is always kept
    assert acc.speed_layer_dropped == 4 and acc.speed_layer_pending == 1
    server.connected = True
    assert backlog.drain(force=True)
    assert acc.stream("gps_data").speed_layer == 1 and speed.vehicle("car-4") is not None


def test_a_write_redis_refuses_for_good_is_dropped_not_retried_for_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    _, speed = down_and_up()
    acc = Accounting()
    backlog = SpeedBacklog(speed, acc)
    backlog.add([gps("car-a", 5, 10.0), gps("car-b", 5, 10.0)], [], [])  # one call
    backlog.add([gps("car-c", 5, 10.0)], [], [])
    real_apply = speed.apply
    calls = iter([redis.ResponseError("ERR Error running script: boom")])

    def apply(chunk: Any) -> list[int]:
        exc = next(calls, None)
        if exc is not None:
            raise exc
        return real_apply(chunk)

    monkeypatch.setattr(speed, "apply", apply)
    assert backlog.drain(force=True)
    assert acc.speed_layer_dropped == 2 and acc.stream("gps_data").speed_layer == 1
    assert speed.vehicle("car-c") is not None and speed.vehicle("car-a") is None


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (redis.ConnectionError("refused"), True),
        (redis.TimeoutError("slow"), True),
        (redis.ResponseError("LOADING Redis is loading the dataset in memory"), True),
        (redis.ResponseError("OOM command not allowed"), True),
        (redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), False),
        (redis.ResponseError("ERR Error running script"), False),
        # a Redis Cluster none of whose nodes answers: not a RedisError, still an outage
        (RedisClusterException("Redis Cluster cannot be connected. Please provide at least one reachable node"), True),
    ],
)
def test_outages_are_retried_and_refusals_are_not(exc: Exception, expected: bool) -> None:
    assert transient(exc) is expected


def run_processor(tmp_path: Path, outage: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Three rounds of a small fleet through the embedded processor; with ``outage`` Redis is
    away during the second. Returns the final accounting and the speed layer's state."""
    server, speed = down_and_up()
    lake = LakeWriter(pafs.LocalFileSystem(), str(tmp_path / ("out" if outage else "ref")), max_age_s=0.05)
    bus = InProcessBus(["gps_data"])
    processor = Processor(bus, BatchProcessor(speed, lake), poll_timeout=0.01)
    processor.start()

    def send(round_: int) -> None:
        items = []
        for i in range(20):
            ts = (BASE + timedelta(seconds=10 * round_)).isoformat()
            event = {"device_id": f"car-{i}", "timestamp": ts, "location": [52.44, 13.52 + i / 1e3 + round_ / 1e4],
                     "speed": float(round_ * 10 + i)}  # fmt: skip
            items.append((f"car-{i}".encode(), orjson.dumps(event)))
        bus.produce_many("gps_data", items)

    def settle() -> None:
        deadline = time.monotonic() + 10
        while (bus.depth()["gps_data"] or processor.accounting.speed_layer_pending) and time.monotonic() < deadline:
            time.sleep(0.02)

    send(0)
    settle()
    if outage:
        server.connected = False
    send(1)
    deadline = time.monotonic() + 10
    while processor.accounting.stream("gps_data").lake_rows < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    if outage:  # the lake went on while Redis was away
        assert processor.accounting.stream("gps_data").lake_rows == 40
        assert processor.accounting.speed_layer_pending == 20
        server.connected = True
    send(2)
    settle()
    assert processor.stop(timeout=30)
    return processor.accounting.snapshot(), speed.snapshot()


def test_an_outage_mid_stream_ends_in_the_same_state_as_none(tmp_path: Path) -> None:
    reference_acc, reference = run_processor(tmp_path, outage=False)
    acc, state = run_processor(tmp_path, outage=True)
    totals = acc["totals"]
    assert totals["received"] == totals["valid"] + totals["dead_letters"] == 60
    assert totals["lake_rows"] == totals["valid"] == totals["speed_layer"]
    assert acc["speed_layer_pending"] == 0 and acc["speed_layer_dropped"] == 0
    assert state == reference  # tracks included: every position of the outage landed, in order
    assert reference_acc["totals"] == totals


def test_writes_acknowledged_just_before_an_outage_are_applied_again_after_it() -> None:
    server, speed = down_and_up()
    acc = Accounting()
    backlog = SpeedBacklog(speed, acc)
    backlog.add([gps("car-a", 20, 10.0)], [], [])
    assert backlog.drain(force=True)
    speed.client.flushall()  # Redis died with its last second unsynced: the write is gone
    server.connected = False
    backlog.add([gps("car-b", 10, 20.0)], [], [])
    assert not backlog.drain(force=True)
    server.connected = True
    assert backlog.drain(force=True)
    assert speed.vehicle("car-a") is not None and speed.vehicle("car-b") is not None
    assert acc.stream("gps_data").speed_layer == 2  # the redone write is counted once
    assert acc.speed_layer_pending == 0


def test_a_batch_with_patience_waits_for_redis_to_return(tmp_path: Path) -> None:
    server, speed = down_and_up()
    lake = LakeWriter(pafs.LocalFileSystem(), str(tmp_path / "lake"))
    batch = BatchProcessor(speed, lake, speed_layer_patience_s=30)
    server.connected = False
    threading.Timer(1.0, lambda: setattr(server, "connected", True)).start()
    events = [RawEvent("gps_data", orjson.dumps(RAW_CAR_A))]
    batch.process(events)
    assert batch.accounting.stream("gps_data").speed_layer == 1 and speed.vehicle("car-a") is not None


def test_a_batch_that_runs_out_of_patience_fails_so_it_can_run_again(tmp_path: Path) -> None:
    server, speed = down_and_up()
    lake = LakeWriter(pafs.LocalFileSystem(), str(tmp_path / "lake"))
    server.connected = False
    events = [RawEvent("gps_data", orjson.dumps(RAW_CAR_A))]
    with pytest.raises(SpeedLayerUnavailable, match="unreachable"):
        BatchProcessor(speed, lake, speed_layer_retries=1, speed_layer_patience_s=0.3).process(events)
    impatient = BatchProcessor(speed, lake, speed_layer_retries=1)
    impatient.process(events)  # the console's direct ingest: counted as failed, the lake has it
    assert impatient.accounting.speed_layer_errors == 1 and impatient.accounting.stream("gps_data").speed_layer == 0
