"""The lake on an S3 API (moto_server on loopback), read back with pyarrow and DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest
from pyarrow import fs as pafs

from pipeline.lake import DEADLETTER, LakeWriter, S3Options, open_lake, read_table
from pipeline.validation import DeadLetter, Validator
from tests.services import S3Server

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Options:
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    opts = S3Options(endpoint_url=s3_server.endpoint_url, region="us-east-1", access_key="test", secret_key="test")
    admin = pafs.S3FileSystem(
        endpoint_override=f"127.0.0.1:{s3_server.port}",
        scheme="http",
        region="us-east-1",
        access_key="test",
        secret_key="test",
        allow_bucket_creation=True,
    )
    admin.create_dir("lake-bucket")
    return opts


def test_lake_writes_hive_partitions_to_s3_and_reads_back(s3: S3Options) -> None:
    fs, root = open_lake("s3://lake-bucket/city", s3)
    validator = Validator()
    rows = []
    for i in range(50):
        ev = {
            "device_id": f"car-{i % 5}",
            "timestamp": (T0 + timedelta(minutes=i * 2)).isoformat(),
            "location": [52.44, 13.52],
            "speed": float(i),
        }
        rec = validator.validate("gps_data", ev, now=T0 + timedelta(days=1))
        assert isinstance(rec, dict)
        rows.append(rec)
    writer = LakeWriter(fs, root)
    writer.add("gps_data", rows)
    writer.add_dead_letters([DeadLetter("gps_data", "not valid JSON", "{", "test", T0)])
    assert writer.flush() == {"gps_data": 50, DEADLETTER: 1}
    listing = [
        f.path
        for f in fs.get_file_info(pafs.FileSelector("lake-bucket/city/gps_data", recursive=True))
        if f.type == pafs.FileType.File
    ]
    assert sorted({p.split("/")[3] + "/" + p.split("/")[4] for p in listing}) == [
        "date=2026-11-27/hour=08",
        "date=2026-11-27/hour=09",
    ]
    gps = read_table(fs, root, "gps_data")
    assert gps.num_rows == 50
    assert gps.schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert duckdb.sql("SELECT count(DISTINCT device_id), sum(speed) FROM gps").fetchall() == [(5, 1225.0)]
    assert read_table(fs, root, DEADLETTER).num_rows == 1
