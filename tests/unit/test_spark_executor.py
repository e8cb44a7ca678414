"""The Spark job's per-partition work, without Spark: Arrow batches of Kafka records in, counts out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from pipeline import spark_executor
from pipeline.exceptions import LakeWriteError
from pipeline.lake import DEADLETTER, open_lake, read_table
from pipeline.settings import Settings
from pipeline.spark_executor import PartitionJob, resources

BATCH_TIME = datetime(2026, 11, 27, 9, 30, 0, tzinfo=UTC)


def vehicle(i: int) -> bytes:
    t = BATCH_TIME - timedelta(seconds=100 - i)
    return orjson.dumps({"id": f"ev-{i}", "device_id": f"car-{i % 3}", "timestamp": t.isoformat(),
                         "location": [52.44, 13.52 + i * 1e-4], "speed": 30.0 + i, "vehicle_type": "car"})  # fmt: skip


def kafka_batch(topic: str, partition: int, offsets: Sequence[int], values: Sequence[bytes | None]) -> pa.RecordBatch:
    """Records as the job's ``select`` hands them to ``mapInArrow``."""
    n = len(offsets)
    produced = BATCH_TIME - timedelta(seconds=1)
    return pa.RecordBatch.from_pydict(
        {
            "topic": [topic] * n,
            "partition": pa.array([partition] * n, pa.int32()),
            "offset": pa.array(offsets, pa.int64()),
            "value": pa.array(values, pa.binary()),
            "timestamp": pa.array([produced] * n, pa.timestamp("us", tz="UTC")),
            "batch_time": pa.array([BATCH_TIME] * n, pa.timestamp("us", tz="UTC")),
        }
    )


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, lake_uri=str(tmp_path / "lake"), redis_prefix="x:", **overrides)  # type: ignore[arg-type]


def run(job: PartitionJob, batches: list[pa.RecordBatch]) -> dict[str, object]:
    (out,) = list(job(batches))
    assert out.schema == spark_executor.RESULT_SCHEMA
    counts: dict[str, object] = orjson.loads(out.column("accounting")[0].as_py())
    counts["latencies"] = out.column("latencies_ms")[0].as_py()
    return counts


def lake_files(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path / "lake")) for p in (tmp_path / "lake").rglob("*.parquet"))


def test_a_partition_reaches_the_speed_layer_and_the_lake_and_bad_records_become_dead_letters(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    values = [vehicle(0), b"{not json", vehicle(1), None, vehicle(2)]
    counts = run(PartitionJob(settings, "run1"), [kafka_batch("vehicle_data", 0, range(40, 45), values)])
    assert counts["totals"] == {"received": 5, "valid": 3, "dead_letters": 2, "speed_layer": 3, "lake_rows": 3}
    assert len(counts["latencies"]) == 5  # type: ignore[arg-type]
    fs, root = open_lake(settings.lake_uri)
    rows = read_table(fs, root, "vehicle_data")
    assert sorted(rows.column("event_id").to_pylist()) == ["ev-0", "ev-1", "ev-2"]
    assert set(rows.column("ingest_time").to_pylist()) == {BATCH_TIME}  # the batch's time, not the clock
    dead = read_table(fs, root, DEADLETTER).to_pylist()
    assert sorted(d["source"] for d in dead) == ["kafka:vehicle_data/0@41", "kafka:vehicle_data/0@43"]
    assert {d["received_at"] for d in dead} == {BATCH_TIME}
    assert lake_files(tmp_path) == [
        "_deadletter/date=2026-11-27/hour=09/part-run1-vehicle_data-0-000000000040.parquet",
        "vehicle_data/date=2026-11-27/hour=09/part-run1-vehicle_data-0-000000000040.parquet",
    ]
    speed = resources(settings).speed
    assert speed.active_vehicle_ids() == ["car-2", "car-1", "car-0"]


def test_a_replayed_batch_rewrites_the_same_files_with_the_same_rows(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    job = PartitionJob(settings, "run1")
    batches = [kafka_batch("gps_data", 2, range(10), [vehicle(i) for i in range(10)])]
    run(job, batches)
    fs, root = open_lake(settings.lake_uri)
    first = read_table(fs, root, "gps_data")
    files = lake_files(tmp_path)
    speed_before = resources(settings).speed.snapshot()
    run(job, batches)  # a task retry, or the batch again after a driver restart
    assert lake_files(tmp_path) == files
    assert read_table(fs, root, "gps_data").equals(first)
    assert resources(settings).speed.snapshot() == speed_before


def test_files_follow_offsets_whatever_the_arrow_batches(tmp_path: Path) -> None:
    """Groups of offsets (here 10) decide the files, so Spark's batch sizes cannot change them;
    a coalesced partition holding two topic-partitions writes each its own files."""
    values = [vehicle(i) for i in range(25)]
    for name, cut in (("a", 13), ("b", 21)):  # Spark cut partition 0's offsets 5-24 at 13, then at 21
        settings = settings_for(tmp_path / name)
        run(PartitionJob(settings, "r", group_offsets=10), [
            kafka_batch("vehicle_data", 0, range(5, cut), values[: cut - 5]),
            kafka_batch("vehicle_data", 0, range(cut, 25), values[cut - 5 : 20]),
            kafka_batch("vehicle_data", 1, range(0, 5), values[20:]),
        ])  # fmt: skip
    names = [f.rsplit("/", 1)[1] for f in lake_files(tmp_path / "a")]
    assert names == [
        "part-r-vehicle_data-0-000000000005.parquet",
        "part-r-vehicle_data-0-000000000010.parquet",
        "part-r-vehicle_data-0-000000000020.parquet",
        "part-r-vehicle_data-1-000000000000.parquet",
    ]
    assert lake_files(tmp_path / "a") == lake_files(tmp_path / "b")
    fa, ra = open_lake(str(tmp_path / "a" / "lake"))
    fb, rb = open_lake(str(tmp_path / "b" / "lake"))
    assert read_table(fa, ra, "vehicle_data").num_rows == 25
    assert (
        read_table(fa, ra, "vehicle_data")
        .sort_by("event_id")
        .equals(read_table(fb, rb, "vehicle_data").sort_by("event_id"))
    )


def test_a_lake_that_stays_down_fails_the_task_instead_of_dropping_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spark_executor, "LAKE_ATTEMPTS", 2)
    monkeypatch.setattr(spark_executor.time, "sleep", lambda _s: None)
    settings = settings_for(tmp_path)
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setattr(resources(settings), "lake_root", str(tmp_path / "not-a-folder" / "lake"))
    with pytest.raises(LakeWriteError, match="part-run1-vehicle_data-0-000000000000"):
        run(PartitionJob(settings, "run1"), [kafka_batch("vehicle_data", 0, [0], [vehicle(0)])])


def test_an_executor_raises_the_rules_alerts_once_even_when_spark_replays_the_batch(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    rules = resources(settings).rules  # the worker's engine, on the worker's Redis
    assert rules is not None
    ring = [[13.519, 52.43], [13.53, 52.43], [13.53, 52.45], [13.519, 52.45], [13.519, 52.43]]
    zone_id, _ = rules.book.add_zone(
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {"name": "Mitte"}}
    )
    rules.book.add_rule({"name": "into Mitte", "kind": "zone_enter", "zone": zone_id, "severity": "high"})
    batch = [kafka_batch("vehicle_data", 0, range(10, 13), [vehicle(0), vehicle(1), vehicle(2)])]
    counts = run(PartitionJob(settings, "run1"), batch)
    assert counts["alerts"] == 3 and counts["rules_errors"] == 0  # car-0, car-1, car-2 each entered
    fs, root = open_lake(settings.lake_uri)
    first = read_table(fs, root, "alerts").to_pylist()
    assert sorted(r["entity"] for r in first) == ["car-0", "car-1", "car-2"]
    assert {r["raised_at"] for r in first} == {BATCH_TIME}
    again = run(PartitionJob(settings, "run1"), batch)  # a task retry
    assert again["alerts"] == 0
    assert read_table(fs, root, "alerts").num_rows == 3
    assert len(rules.alerts.list("all")) == 3


def test_a_task_writes_the_speed_layer_before_any_of_its_lake_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lake waits, the live map does not: every event of the task's topic-partitions is in
    the speed layer when its first lake file is written."""
    settings = settings_for(tmp_path)
    seen_at_first_file: list[list[str]] = []
    flush = PartitionJob._flush

    def watched(self: PartitionJob, group: object) -> None:
        if not seen_at_first_file:
            seen_at_first_file.append(sorted(resources(settings).speed.active_vehicle_ids()))
        flush(self, group)  # type: ignore[arg-type]

    monkeypatch.setattr(PartitionJob, "_flush", watched)
    other = [orjson.dumps({**orjson.loads(vehicle(i)), "device_id": f"bus-{i}"}) for i in range(3)]
    counts = run(PartitionJob(settings, "run1"), [
        pa.concat_batches([kafka_batch("vehicle_data", 0, range(3), [vehicle(i) for i in range(3)]),
                           kafka_batch("vehicle_data", 1, range(3), other)]),
        kafka_batch("vehicle_data", 2, range(2), [vehicle(i) for i in range(2)]),
    ])  # fmt: skip
    assert seen_at_first_file == [["bus-0", "bus-1", "bus-2", "car-0", "car-1", "car-2"]]
    assert counts["totals"] == {"received": 8, "valid": 8, "dead_letters": 0, "speed_layer": 8, "lake_rows": 8}
    assert len(lake_files(tmp_path)) == 3  # one per topic-partition
