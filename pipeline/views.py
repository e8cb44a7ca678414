"""Batch views: hourly aggregates of the lake, defined once in SQL.

The embedded engine is DuckDB over pyarrow datasets (no DuckDB extension needed, so it
works for local and S3 lakes alike); the Spark batch job (``pipeline.spark_views``) runs
the same SQL text. Every view takes a time range ``[start, end)`` on event time (any UTC
offset; a naive time is UTC) and counts each event once, however often it was delivered.

    python -m pipeline.views --start 2026-11-26 --end 2026-11-28   # writes <lake>/views/<view>/date=…/

Written views replace whole UTC days, so rerunning a day gives the same files.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipeline.lake import dataset, time_filter
from pipeline.schemas import arrow_schema


def _round(expr: str, digits: int) -> str:
    """SQL rounding both engines agree on: through a decimal, half away from zero.

    ``round(double)`` differs at exact ties (an average of 0.075: DuckDB rounds the binary
    double 0.07499… down, Spark rounds its decimal form up); a decimal has no such ambiguity.
    """
    return f"CAST(round(CAST({expr} AS DECIMAL(38, 9)), {digits}) AS DOUBLE)"


SOURCE = "lake_events"  # the name each engine gives a lake table's rows before a view's SQL reads them


def first_deliveries(table: str) -> str:
    """SQL of the rows of ``SOURCE`` (a ``table`` of the lake) with each event once.

    An event delivered again (an HTTP retry, a Kafka redelivery) is another lake row with the
    same ``event_id``; the first row ingested stands for it. The row's other columns break a
    tie on ``ingest_time``, with NULLs placed explicitly (the engines' defaults differ), so
    DuckDB and Spark keep the same row.
    """
    names = arrow_schema(table).names
    ties = (name for name in names if name not in ("event_id", "ingest_time"))
    order = ", ".join(f"{name} NULLS LAST" for name in ("ingest_time", *ties))
    return f"""SELECT {", ".join(names)}
           FROM (SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY {order}) AS delivery FROM {SOURCE})
                AS deliveries
           WHERE delivery = 1"""


def _over_events(table: str, sql: str) -> str:
    """``sql`` reading a relation named ``events``: ``table``'s events, each once."""
    return f"WITH events AS ({first_deliveries(table)})\n{sql}"


# view -> (lake table, SQL over a relation named `events`). Plain SQL that DuckDB and Spark
# both run unchanged; aggregates are deterministic (no any_value) so both give equal rows.
_VIEWS: dict[str, tuple[str, str]] = {
    "traffic": (
        "traffic_data",
        f"""SELECT date_trunc('hour', event_time) AS hour, camera_id, max(segment_id) AS segment_id,
                  max(road_name) AS road_name, {_round("avg(speed)", 2)} AS avg_speed_kmh,
                  {_round("avg(vehicle_count)", 2)} AS avg_vehicle_count, max(vehicle_count) AS max_vehicle_count,
                  count(*) AS reports
           FROM events GROUP BY ALL ORDER BY hour, camera_id""",
    ),
    "incidents": (
        "emergency_data",
        """SELECT date_trunc('hour', first_time) AS hour, incident_type, count(*) AS incidents,
                  count(*) FILTER (WHERE severity IN ('high', 'critical')) AS high_or_critical
           FROM (SELECT incidentId, min_by(incident_type, event_time) AS incident_type,
                        min_by(severity, event_time) AS severity, min(event_time) AS first_time
                 FROM events GROUP BY incidentId)
           GROUP BY ALL ORDER BY hour, incident_type""",
    ),
    "weather": (
        "weather_data",
        f"""SELECT date_trunc('hour', event_time) AS hour, device_id AS station,
                  {_round("avg(temperature)", 2)} AS avg_temperature_c,
                  {_round("max(precipitation)", 2)} AS max_precipitation_mm_h,
                  {_round("max(wind_speed)", 2)} AS max_wind_kmh, {_round("avg(airQualityIndex)", 1)} AS avg_aqi,
                  count(*) AS reports
           FROM events GROUP BY ALL ORDER BY hour, station""",
    ),
    # km between consecutive GPS reports of a vehicle (haversine), counted in the later one's hour;
    # reports without a position (valid GPS fixes) are no step, and not counted
    "distance": (
        "gps_data",
        f"""SELECT date_trunc('hour', event_time) AS hour, device_id AS vehicle, max(vehicle_type) AS vehicle_type,
                  {_round("coalesce(sum(step_km), 0)", 3)} AS distance_km, count(*) AS reports
           FROM (SELECT device_id, vehicle_type, event_time,
                        2 * 6371.0088 * asin(sqrt(
                            pow(sin(radians(latitude - lag(latitude) OVER w) / 2), 2)
                            + cos(radians(lag(latitude) OVER w)) * cos(radians(latitude))
                              * pow(sin(radians(longitude - lag(longitude) OVER w) / 2), 2))) AS step_km
                 FROM events WHERE latitude IS NOT NULL
                 WINDOW w AS (PARTITION BY device_id ORDER BY event_time, event_id))
           GROUP BY ALL ORDER BY hour, vehicle""",
    ),
}
# view -> (lake table, its SQL over SOURCE): the one definition both engines run
VIEWS: dict[str, tuple[str, str]] = {view: (table, _over_events(table, sql)) for view, (table, sql) in _VIEWS.items()}
VIEWS_DIR = "views"


def _events(
    filesystem: pafs.FileSystem, root: str, table: str, start: datetime, end: datetime, device: str | None = None
) -> pa.Table | None:
    data = dataset(filesystem, root, table)
    if data is None:
        return None
    flt = time_filter(start, end)
    if device is not None:
        flt &= pc.field("device_id") == device
    return data.to_table(filter=flt)


def _sql(events: pa.Table, sql: str) -> Any:
    """DuckDB's relation for ``sql`` over ``events`` (registered as ``SOURCE``)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # hours are UTC whatever the machine's zone
    con.register(SOURCE, events)
    return con.sql(sql)


def _query(view: str, filesystem: pafs.FileSystem, root: str, start: datetime, end: datetime) -> Any:
    table, sql = VIEWS[view]
    events = _events(filesystem, root, table, start, end)
    if events is None or events.num_rows == 0:
        return None
    return _sql(events, sql)


def hourly(view: str, filesystem: pafs.FileSystem, root: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Rows of one hourly view over ``[start, end)``; an empty lake gives no rows."""
    rel = _query(view, filesystem, root, start, end)
    if rel is None:
        return []
    columns = rel.columns
    return [dict(zip(columns, row, strict=True)) for row in rel.fetchall()]


_ROUTE = "event_time, latitude, longitude, speed"


def route(
    filesystem: pafs.FileSystem, root: str, device_id: str, start: datetime, end: datetime, limit: int = 20_000
) -> list[dict[str, Any]]:
    """One vehicle's positions over ``[start, end)`` from GPS (or telemetry), in time order,
    each event once however often it was delivered (GPS reports without a position left out)."""
    for table in ("gps_data", "vehicle_data"):
        events = _events(filesystem, root, table, start, end, device_id)
        if events is not None and events.num_rows:
            where = "WHERE latitude IS NOT NULL"
            sql = f"SELECT {_ROUTE} FROM events {where} ORDER BY event_time, event_id LIMIT {int(limit)}"
            rows: list[dict[str, Any]] = _sql(events, _over_events(table, sql)).to_arrow_table().to_pylist()
            if rows:
                return rows
    return []


def days(start: date, end: date) -> list[date]:
    """The UTC days ``[start, end)``."""
    return [start + timedelta(days=i) for i in range((end - start).days)]


def day_range(day: date) -> tuple[datetime, datetime]:
    first = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return first, first + timedelta(days=1)


def table(view: str, filesystem: pafs.FileSystem, root: str, start: datetime, end: datetime) -> pa.Table | None:
    """One view over ``[start, end)`` as an Arrow table (None when the lake has no events)."""
    rel = _query(view, filesystem, root, start, end)
    return None if rel is None else rel.to_arrow_table()


Compute = Callable[[str, datetime, datetime], "pa.Table | None"]


def write_views(
    filesystem: pafs.FileSystem,
    root: str,
    start: date,
    end: date,
    compute: Compute | None = None,
    target: str | None = None,
) -> dict[str, int]:
    """Compute every view for the UTC days ``[start, end)`` and write them as Parquet under
    ``<target>/<view>/date=YYYY-MM-DD/part-00000.parquet`` (default target ``<root>/views``),
    replacing those days; returns rows written per view.

    ``compute(view, start, end)`` is the engine: DuckDB here by default, Spark in
    ``pipeline.spark_views``; the layout is written here for both.
    """
    compute = compute or (lambda view, first, last: table(view, filesystem, root, first, last))
    target = target or f"{root}/{VIEWS_DIR}"
    written = dict.fromkeys(VIEWS, 0)
    for view in VIEWS:
        rows = compute(view, day_range(start)[0], day_range(end)[0])
        for day in days(start, end):
            directory = f"{target}/{view}/date={day.isoformat()}"
            filesystem.delete_dir_contents(directory, missing_dir_ok=True)
            if rows is None:
                continue
            first, last = day_range(day)
            part = rows.filter((pc.field("hour") >= first) & (pc.field("hour") < last))
            if part.num_rows:
                filesystem.create_dir(directory, recursive=True)
                pq.write_table(part, f"{directory}/part-00000.parquet", filesystem=filesystem)
                written[view] += part.num_rows
    return written


def read_view(filesystem: pafs.FileSystem, root: str, view: str, target: str | None = None) -> pa.Table:
    """A written view back, sorted like the SQL orders it (without the ``date`` partition)."""
    base = f"{target or f'{root}/{VIEWS_DIR}'}/{view}"
    if filesystem.get_file_info(base).type == pafs.FileType.NotFound:
        return pa.table({})
    data = ds.dataset(base, filesystem=filesystem, format="parquet", partitioning="hive", ignore_prefixes=[".", "_"])
    rows = data.to_table().drop_columns(["date"])
    return rows.sort_by([(name, "ascending") for name in rows.column_names[:2]])


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from pipeline import runtime
    from pipeline.lake import open_lake
    from pipeline.settings import Settings

    p = argparse.ArgumentParser(prog="python -m pipeline.views", description="Write the hourly views (DuckDB).")
    p.add_argument("--start", type=date.fromisoformat, required=True, help="first UTC day, YYYY-MM-DD")
    p.add_argument("--end", type=date.fromisoformat, help="day after the last (default: start + 1 day)")
    p.add_argument("--folder", default=VIEWS_DIR, help=f"folder under the lake to write to (default {VIEWS_DIR})")
    args = p.parse_args(argv)
    settings = Settings()
    filesystem, root = open_lake(settings.lake_uri, runtime.s3_options(settings))
    end = args.end or args.start + timedelta(days=1)
    print(json.dumps(write_views(filesystem, root, args.start, end, target=f"{root}/{args.folder}")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
