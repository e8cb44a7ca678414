from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from pipeline.exceptions import LakeWriteError
from pipeline.lake import CONVERT_ROWS, DEADLETTER, LakeWriter, open_lake, read_table, to_table
from pipeline.validation import DeadLetter, Record, Validator

T0 = datetime(2026, 11, 27, 9, 59, 58, tzinfo=UTC)
VALIDATOR = Validator()


def gps(seconds: float, device: str = "car-1") -> Record:
    ev = {
        "device_id": device,
        "timestamp": (T0 + timedelta(seconds=seconds)).isoformat(),
        "location": [52.44, 13.52],
        "speed": 12.5,
        "heading": 90.0,
    }
    out = VALIDATOR.validate("gps_data", ev, now=T0 + timedelta(days=1))
    assert isinstance(out, dict)
    return out


def test_rows_land_in_hive_partitions_by_event_hour(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path / "lake"))
    writer = LakeWriter(fs, root)
    writer.add("gps_data", [gps(0), gps(1), gps(3)])  # 09:59:58, 09:59:59, 10:00:01
    assert writer.flush() == {"gps_data": 3}
    files = sorted(p.relative_to(tmp_path / "lake").as_posix() for p in (tmp_path / "lake").rglob("*.parquet"))
    assert [f.rsplit("/", 1)[0] for f in files] == [
        "gps_data/date=2026-11-27/hour=09",
        "gps_data/date=2026-11-27/hour=10",
    ]
    assert not list((tmp_path / "lake").rglob("*.tmp"))


def test_lake_reads_back_typed_with_pyarrow_pandas_and_duckdb(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path))
    writer = LakeWriter(fs, root)
    writer.add("gps_data", [gps(i, f"car-{i % 2}") for i in range(10)])
    writer.flush()
    table = read_table(fs, root, "gps_data")
    assert table.num_rows == 10
    assert table.schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("latitude").type == pa.float64()
    df = table.to_pandas()
    assert str(df["event_time"].dtype).startswith("datetime64[us, UTC]")
    # a plain file, as any tool sees it
    one = next(tmp_path.rglob("*.parquet"))
    assert pq.read_table(one).schema.field("speed").type == pa.float64()
    rows = duckdb.sql(
        f"SELECT device_id, count(*) AS n, max(speed) FROM read_parquet('{tmp_path}/gps_data/*/*/*.parquet',"
        " hive_partitioning=true) GROUP BY device_id ORDER BY device_id"
    ).fetchall()
    assert rows == [("car-0", 5, 12.5), ("car-1", 5, 12.5)]


def test_dead_letters_are_kept_with_reason_and_raw(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path))
    writer = LakeWriter(fs, root)
    writer.add_dead_letters([DeadLetter("gps_data", "not valid JSON", "{oops", "bus", T0)])
    writer.flush()
    (row,) = read_table(fs, root, DEADLETTER).to_pylist()
    assert (row["stream"], row["reason"], row["raw"], row["source"]) == ("gps_data", "not valid JSON", "{oops", "bus")


def test_flush_is_due_by_rows_or_age(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path))
    writer = LakeWriter(fs, root, max_rows=3, max_age_s=3600)
    writer.add("gps_data", [gps(0), gps(1)])
    assert not writer.due()
    writer.add("gps_data", [gps(2)])
    assert writer.due()
    aged = LakeWriter(fs, root, max_rows=1000, max_age_s=0)
    assert not aged.due()
    aged.add("gps_data", [gps(0)])
    assert aged.due()


def test_a_failed_write_keeps_the_rows_for_the_next_flush(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the lake should be")
    writer = LakeWriter(pafs.LocalFileSystem(), str(blocker), writer_id="w")
    writer.add("gps_data", [gps(0), gps(1)])
    with pytest.raises(LakeWriteError):
        writer.flush()
    assert writer.buffered_rows == 2
    blocker.unlink()
    assert writer.flush() == {"gps_data": 2}


def test_fixed_file_stem_makes_a_replayed_flush_overwrite(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path))
    writer = LakeWriter(fs, root)
    for _ in range(2):
        writer.add("gps_data", [gps(0), gps(1)])
        writer.flush(file_stem="batch-00000007")
    assert read_table(fs, root, "gps_data").num_rows == 2


def test_what_a_public_simulator_sends_reaches_the_lake_under_canonical_names(tmp_path: Path) -> None:
    """camelCase names, no location, unknown fields and a clock far ahead, through the real writer."""
    fs, root = open_lake(str(tmp_path))
    received = T0 + timedelta(days=1)
    sent = {"deviceId": "bus-7", "timestamp": "2999-01-01T00:00:00Z", "speed": 30.0, "vehicleType": "bus",
            "direction": "North", "firmware": {"version": "1.2", "flags": [1, 2]}}  # fmt: skip
    rec = VALIDATOR.validate("gps_data", sent, now=received)
    assert isinstance(rec, dict), rec
    writer = LakeWriter(fs, root)
    writer.add("gps_data", [rec, gps(0)])
    writer.flush()
    rows = read_table(fs, root, "gps_data").sort_by("device_id").to_pylist()
    bus, car = rows
    assert (bus["device_id"], bus["vehicle_type"], bus["latitude"], bus["longitude"]) == ("bus-7", "bus", None, None)
    assert "deviceId" not in bus and "vehicleType" not in bus  # canonical columns only
    assert orjson.loads(bus["extra"]) == {"firmware": {"version": "1.2", "flags": [1, 2]}}
    assert (bus["event_time"], bus["device_time"]) == (received, datetime(2999, 1, 1, tzinfo=UTC))
    assert bus["clock_skew_s"] == (datetime(2999, 1, 1, tzinfo=UTC) - received).total_seconds()
    assert (car["extra"], car["device_time"], car["clock_skew_s"], car["latitude"]) == (None, None, None, 52.44)
    extra = duckdb.sql(f"SELECT extra->>'$.firmware.version' FROM read_parquet('{tmp_path}/gps_data/**/*.parquet')")
    assert sorted(extra.fetchall(), key=str) == [("1.2",), (None,)]  # plain JSON text to any reader


def test_files_written_before_the_new_columns_still_read(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path))
    writer = LakeWriter(fs, root)
    writer.add("gps_data", [gps(0)])
    writer.flush()
    (old,) = tmp_path.rglob("*.parquet")  # rewrite it as the lake wrote it before: no extra, no clock columns
    pq.write_table(pq.read_table(old).drop_columns(["device_time", "clock_skew_s", "extra"]), old)
    (row,) = read_table(fs, root, "gps_data").to_pylist()
    assert row["device_id"] == "car-1" and row["extra"] is None and row["clock_skew_s"] is None


def test_rows_convert_to_the_same_table_as_row_by_row() -> None:
    schema = pa.schema([("id", pa.string(), False), ("n", pa.int64()), ("x", pa.float64()),
                        ("at", pa.timestamp("us", tz="UTC"))])  # fmt: skip
    rows: list[Record] = [
        {"id": "a", "n": 1, "x": 2, "at": T0, "not_in_schema": "ignored"},
        {"id": "b", "at": T0 + timedelta(microseconds=1)},  # missing keys: nulls
        {"id": "c", "n": None, "x": 0.5, "at": None},
        {"id": "d", "n": 2, "x": -1.0, "at": T0},
    ]
    assert to_table(rows, schema).equals(pa.Table.from_pylist(rows, schema))
    many = rows * (CONVERT_ROWS // 2)  # converted in slices
    assert to_table(many, schema).equals(pa.Table.from_pylist(many, schema))
    assert to_table([], schema).num_rows == 0
