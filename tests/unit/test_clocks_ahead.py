"""Devices whose clocks run ahead: their events are kept, and the System view names them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import fakeredis
import orjson
from pyarrow import fs as pafs

from app.console.system import render
from pipeline.accounting import CLOCKS_KEPT, Accounting, combine
from pipeline.lake import LakeWriter
from pipeline.processor import BatchProcessor, RawEvent
from pipeline.spark_job import merge
from pipeline.speed_layer import SpeedLayer


def gps(device: str, ahead_s: float) -> RawEvent:
    ts = datetime.now(UTC) + timedelta(seconds=ahead_s)
    event = {"device_id": device, "timestamp": ts.isoformat(), "location": [52.44, 13.52], "speed": 20.0}
    return RawEvent("gps_data", orjson.dumps(event), "test")


def test_a_device_an_hour_ahead_is_kept_and_listed_with_its_skew(tmp_path: Path) -> None:
    batch = BatchProcessor(SpeedLayer(fakeredis.FakeRedis()), LakeWriter(pafs.LocalFileSystem(), str(tmp_path)))
    batch.process([gps("fast-clock", 3600), gps("good-clock", 0)])
    snap = batch.accounting.snapshot()
    assert snap["totals"]["valid"] == 2 and snap["totals"]["dead_letters"] == 0
    (row,) = snap["clocks_ahead"]
    assert row["device_id"] == "fast-clock" and row["stream"] == "gps_data" and 3590 < row["skew_s"] < 3610
    _, streams = render({"accounting": snap, "now_ms": 0})
    text = str(streams)
    assert "Devices with clocks ahead" in text and "fast-clock" in text and "good-clock" not in text


def test_the_list_is_bounded_keeps_the_latest_and_merges_across_processors() -> None:
    acc = Accounting()
    now = datetime.now(UTC)
    with acc.lock:
        for i in range(CLOCKS_KEPT + 10):
            acc.clock_ahead("gps_data", f"dev-{i}", 400.0 + i, now)
        acc.clock_ahead("gps_data", "dev-0", 999.0, now)  # seen again: it stays, with its new skew
    rows = acc.snapshot()["clocks_ahead"]
    assert len(rows) == CLOCKS_KEPT and rows[0] == {"stream": "gps_data", "device_id": "dev-0", "skew_s": 999.0,
                                                    "seen_ms": int(now.timestamp() * 1000)}  # fmt: skip
    assert "dev-1" not in {r["device_id"] for r in rows}  # the longest unseen left first
    other = Accounting()
    with other.lock:
        other.clock_ahead("weather_data", "station-9", 5000.0, now)
    combined = combine([acc.snapshot(), other.snapshot()])
    assert combined is not None and combined["clocks_ahead"][0]["device_id"] == "station-9"
    driver = Accounting()  # the Spark driver sums its executors' snapshots
    merge(driver, other.snapshot(), [])
    assert driver.snapshot()["clocks_ahead"][0]["device_id"] == "station-9"
