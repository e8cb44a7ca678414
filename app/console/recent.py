"""The lake's last hours, in time buckets, for the live tabs' "over time" charts.

Only the hour partitions the window touches are listed and read (a lake of many days, on S3
too, costs a few listings per read), and a missing partition or an empty lake is no rows.
Times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import fs as pafs

from pipeline.lake import partition_path, utc
from pipeline.live_model import CONGESTED_FROM, LEVELS, level_rank
from pipeline.schemas import arrow_schema

WINDOW = timedelta(hours=3)
UNREADABLE = (OSError, pa.ArrowException, duckdb.Error)  # a lake that is down or a file being replaced


def window(now: datetime, bucket_s: int, span: timedelta = WINDOW, current: bool = False) -> tuple[datetime, datetime]:
    """``[start, end)``: the ``span`` before the bucket ``now`` is in, and with ``current`` that
    bucket too, up to ``now`` (for means and maxima, which a bucket still filling already
    gives; counts in it would look like a sudden drop)."""
    epoch = int(now.timestamp())
    bucket = datetime.fromtimestamp(epoch - epoch % bucket_s, UTC)
    return bucket - span, now if current else bucket


def hours(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hours ``[start, end)`` touches: the partitions to read (a naive time is UTC)."""
    hour, last = utc(start).replace(minute=0, second=0, microsecond=0), utc(end)
    out = []
    while hour < last:
        out.append(hour)
        hour += timedelta(hours=1)
    return out


def events(
    filesystem: pafs.FileSystem, root: str, table: str, start: datetime, end: datetime, columns: list[str]
) -> pa.Table | None:
    """``columns`` of the events of ``table`` in ``[start, end)``; None when there are none."""
    files = []
    for h in hours(start, end):
        directory = partition_path(root, table, h.year, h.month, h.day, h.hour)
        listed = filesystem.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
        files += [
            f.path
            for f in listed
            if f.type == pafs.FileType.File and f.base_name.endswith(".parquet") and f.base_name[0] not in "._"
        ]
    if not files:
        return None
    data = ds.dataset(sorted(files), filesystem=filesystem, format="parquet", schema=arrow_schema(table))
    flt = (pc.field("event_time") >= utc(start)) & (pc.field("event_time") < utc(end))
    found = data.to_table(columns=columns, filter=flt)
    return found if found.num_rows else None


def _rows(events: pa.Table, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("events", events)
        rel = con.sql(sql)
        return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()


def _bucket(bucket_s: int) -> str:
    return f"to_timestamp(floor(epoch(event_time) / {int(bucket_s)}) * {int(bucket_s)})"


def congestion(
    filesystem: pafs.FileSystem, root: str, start: datetime, end: datetime, bucket_s: int = 60
) -> list[dict[str, Any]]:
    """Per time bucket: ``t``, ``sensors`` reporting, how many were at each congestion level
    (each sensor's last report of the bucket), ``congested`` (at ``CONGESTED_FROM`` or above) and
    ``mean_speed`` (km/h, each sensor weighing the same)."""
    columns = ["event_time", "camera_id", "speed", "congestion_level"]
    table = events(filesystem, root, "traffic_data", start, end, columns)
    if table is None:
        return []
    levels = ", ".join(f"count(*) FILTER (WHERE level = '{lvl}') AS {lvl}" for lvl in LEVELS)
    congested = ", ".join(f"'{lvl}'" for lvl in LEVELS[level_rank(CONGESTED_FROM) :])
    sql = f"""
        WITH per_sensor AS (
            SELECT {_bucket(bucket_s)} AS t, camera_id, arg_max(congestion_level, event_time) AS level,
                   avg(speed) AS speed
            FROM events GROUP BY ALL)
        SELECT t, count(*) AS sensors, {levels},
               count(*) FILTER (WHERE level IN ({congested})) AS congested,
               round(avg(speed), 1) AS mean_speed
        FROM per_sensor GROUP BY t ORDER BY t"""
    return _rows(table, sql)


def weather(
    filesystem: pafs.FileSystem, root: str, start: datetime, end: datetime, bucket_s: int = 300
) -> list[dict[str, Any]]:
    """Per station and time bucket: ``t``, ``station``, mean ``temperature`` (°C), the most
    ``precipitation`` (mm/h) and ``wind_speed`` (km/h), and mean ``aqi``."""
    columns = ["event_time", "device_id", "temperature", "precipitation", "wind_speed", "airQualityIndex"]
    table = events(filesystem, root, "weather_data", start, end, columns)
    if table is None:
        return []
    sql = f"""
        SELECT {_bucket(bucket_s)} AS t, device_id AS station, round(avg(temperature), 1) AS temperature,
               round(max(precipitation), 1) AS precipitation, round(max(wind_speed), 1) AS wind_speed,
               round(avg(airQualityIndex), 0) AS aqi
        FROM events GROUP BY ALL ORDER BY station, t"""
    return _rows(table, sql)
