from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fakeredis
import orjson
import pyarrow as pa
import pytest
import redis
from pyarrow import fs as pafs

from pipeline.bus import InProcessBus
from pipeline.exceptions import BusFull
from pipeline.lake import DEADLETTER, LakeWriter, open_lake, read_table
from pipeline.processor import BatchProcessor, Processor, RawEvent
from pipeline.schemas import STREAMS
from pipeline.speed_layer import SpeedLayer

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def gps(i: int, device: str = "car-1") -> bytes:
    ts = (T0 + timedelta(seconds=i)).isoformat()
    return orjson.dumps({"device_id": device, "timestamp": ts, "location": [52.44, 13.52], "speed": 20.0})


def make(tmp_path: Path, client: redis.Redis) -> tuple[InProcessBus, Processor]:
    fs, root = open_lake(str(tmp_path))
    bus = InProcessBus(list(STREAMS), capacity=1000)
    return bus, Processor(bus, BatchProcessor(SpeedLayer(client, "p:"), LakeWriter(fs, root)), max_batch=50)


def test_processor_drains_the_bus_and_flushes_the_lake_on_stop(tmp_path: Path) -> None:
    client = fakeredis.FakeRedis()
    bus, proc = make(tmp_path, client)
    proc.start()
    bus.produce_many("gps_data", [(b"car-1", gps(i)) for i in range(300)])
    bus.produce_many("gps_data", [(b"x", b"garbage"), (b"y", b'{"device_id": 1}')])
    assert proc.stop(timeout=30)
    acc = proc.accounting.snapshot()
    s = acc["streams"]["gps_data"]
    assert s["received"] == 302 == s["valid"] + s["dead_letters"]
    assert (s["valid"], s["dead_letters"], s["speed_layer"], s["lake_rows"]) == (300, 2, 300, 300)
    fs, root = open_lake(str(tmp_path))
    assert read_table(fs, root, "gps_data").num_rows == 300
    assert read_table(fs, root, DEADLETTER).num_rows == 2
    state = SpeedLayer(client, "p:").vehicle("car-1")
    assert state is not None and int(state["ts"]) == int((T0 + timedelta(seconds=299)).timestamp() * 1000)


class BrokenRedis(fakeredis.FakeRedis):
    def evalsha(self, *args: object, **kwargs: object) -> object:
        raise redis.ConnectionError("Redis went away")


def test_a_redis_outage_is_counted_and_the_events_still_reach_the_lake(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path))
    batch = BatchProcessor(SpeedLayer(BrokenRedis(), "p:"), LakeWriter(fs, root), speed_layer_retries=1)
    batch.process([RawEvent("gps_data", gps(i)) for i in range(10)])
    batch.flush_lake()
    acc = batch.accounting.snapshot()
    assert acc["speed_layer_errors"] == 1 and "Redis went away" in acc["last_error"]
    assert acc["streams"]["gps_data"]["speed_layer"] == 0
    assert acc["streams"]["gps_data"]["lake_rows"] == 10


def test_a_failing_lake_pushes_back_instead_of_buffering_without_bound(tmp_path: Path) -> None:
    blocker = tmp_path / "lake"
    blocker.write_text("a file where the lake folder should be")
    bus = InProcessBus(list(STREAMS), capacity=100)
    lake = LakeWriter(pafs.LocalFileSystem(), str(blocker), max_rows=50, max_age_s=0.01)
    proc = Processor(bus, BatchProcessor(SpeedLayer(fakeredis.FakeRedis(), "p:"), lake), max_batch=50)
    proc.start()
    with pytest.raises(BusFull):  # the producer is told, nothing is dropped silently
        for i in range(1000):
            bus.produce("gps_data", b"car-1", gps(i), timeout=2)
    assert lake.buffered_rows <= 3 * 50 + 50
    assert proc.accounting.snapshot()["lake_errors"] >= 1
    blocker.unlink()  # the lake comes back
    assert proc.stop(timeout=60)
    s = proc.accounting.snapshot()["streams"]["gps_data"]
    assert s["received"] == s["valid"] == s["lake_rows"] == i  # every accepted event landed


class StuckLake(LakeWriter):
    """A lake whose file writes wait until released (a slow disk or S3)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.writing, self.release = threading.Event(), threading.Event()

    def _write(self, table: pa.Table, directory: str, name: str) -> None:
        self.writing.set()
        self.release.wait(60)
        super()._write(table, directory, name)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_lake_flush_in_progress_never_holds_up_the_speed_layer(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path))
    lake = StuckLake(fs, root, max_age_s=0)
    bus = InProcessBus(list(STREAMS), capacity=1000)
    proc = Processor(bus, BatchProcessor(SpeedLayer(fakeredis.FakeRedis(), "p:"), lake), max_batch=50)
    proc.start()
    bus.produce_many("gps_data", [(b"car-1", gps(i)) for i in range(100)])
    assert lake.writing.wait(30)  # a flush is writing, and stays stuck
    bus.produce_many("gps_data", [(b"car-2", gps(i, "car-2")) for i in range(100)])

    def gps_counts() -> dict[str, int]:
        return dict(proc.accounting.snapshot()["streams"]["gps_data"])

    assert wait_for(lambda: gps_counts()["speed_layer"] == 200)  # the speed path went on
    assert not lake.release.is_set() and gps_counts()["lake_rows"] < 200
    lake.release.set()
    assert proc.stop(timeout=60)
    s = gps_counts()
    assert s["received"] == s["valid"] == s["speed_layer"] == s["lake_rows"] == 200
    assert read_table(fs, root, "gps_data").num_rows == 200
    assert len(proc.accounting.latencies_ms) == 200  # a latency sample per event


def test_a_slow_lake_pushes_back_counting_the_rows_it_is_writing(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path))
    lake = StuckLake(fs, root, max_rows=50, max_age_s=0)
    bus = InProcessBus(list(STREAMS), capacity=100)
    proc = Processor(bus, BatchProcessor(SpeedLayer(fakeredis.FakeRedis(), "p:"), lake), max_batch=50)
    proc.start()
    with pytest.raises(BusFull):  # the writing never ends: reading stops, the bus fills
        for i in range(1000):
            bus.produce("gps_data", b"car-1", gps(i), timeout=2)
    assert lake.writing.is_set() and 0 < lake.held_rows <= 3 * 50 + 50
    lake.release.set()
    assert proc.stop(timeout=60)
    s = proc.accounting.snapshot()["streams"]["gps_data"]
    assert s["received"] == s["valid"] == s["speed_layer"] == s["lake_rows"] == i  # every accepted event landed
    assert lake.held_rows == 0
