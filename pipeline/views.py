"""Batch views: hourly aggregates of the lake, defined once in SQL.

The embedded engine is DuckDB over pyarrow datasets (no DuckDB extension needed, so it
works for local and S3 lakes alike); the Spark batch job runs the same SQL text.
Every view takes a time range ``[start, end)`` on event time, in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import fs as pafs

from pipeline.lake import dataset

# view -> (lake table, SQL over a relation named `events`)
VIEWS: dict[str, tuple[str, str]] = {
    "traffic": (
        "traffic_data",
        """SELECT date_trunc('hour', event_time) AS hour, camera_id, any_value(segment_id) AS segment_id,
                  any_value(road_name) AS road_name, round(avg(speed), 2) AS avg_speed_kmh,
                  round(avg(vehicle_count), 2) AS avg_vehicle_count, max(vehicle_count) AS max_vehicle_count,
                  count(*) AS reports
           FROM events GROUP BY ALL ORDER BY hour, camera_id""",
    ),
    "incidents": (
        "emergency_data",
        """SELECT date_trunc('hour', first_time) AS hour, incident_type, count(*) AS incidents,
                  count(*) FILTER (WHERE severity IN ('high', 'critical')) AS high_or_critical
           FROM (SELECT incidentId, any_value(incident_type) AS incident_type, any_value(severity) AS severity,
                        min(event_time) AS first_time
                 FROM events GROUP BY incidentId)
           GROUP BY ALL ORDER BY hour, incident_type""",
    ),
    "weather": (
        "weather_data",
        """SELECT date_trunc('hour', event_time) AS hour, device_id AS station,
                  round(avg(temperature), 2) AS avg_temperature_c,
                  round(max(precipitation), 2) AS max_precipitation_mm_h,
                  round(max(wind_speed), 2) AS max_wind_kmh, round(avg(airQualityIndex), 1) AS avg_aqi,
                  count(*) AS reports
           FROM events GROUP BY ALL ORDER BY hour, station""",
    ),
}


def _events(
    filesystem: pafs.FileSystem, root: str, table: str, start: datetime, end: datetime, device: str | None = None
) -> pa.Table | None:
    data = dataset(filesystem, root, table)
    if data is None:
        return None
    flt = (pc.field("event_time") >= start) & (pc.field("event_time") < end)
    # partitions outside the range are never opened
    flt &= (pc.field("date") >= start.strftime("%Y-%m-%d")) & (pc.field("date") <= end.strftime("%Y-%m-%d"))
    if device is not None:
        flt &= pc.field("device_id") == device
    return data.to_table(filter=flt)


def hourly(view: str, filesystem: pafs.FileSystem, root: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Rows of one hourly view over ``[start, end)``; an empty lake gives no rows."""
    table, sql = VIEWS[view]
    events = _events(filesystem, root, table, start, end)
    if events is None or events.num_rows == 0:
        return []
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # hours are UTC whatever the machine's zone
    con.register("events", events)
    rel = con.sql(sql)
    columns = rel.columns
    return [dict(zip(columns, row, strict=True)) for row in rel.fetchall()]


def route(
    filesystem: pafs.FileSystem, root: str, device_id: str, start: datetime, end: datetime, limit: int = 20_000
) -> list[dict[str, Any]]:
    """One vehicle's positions over ``[start, end)`` from GPS (or telemetry), in time order."""
    for table in ("gps_data", "vehicle_data"):
        events = _events(filesystem, root, table, start, end, device_id)
        if events is not None and events.num_rows:
            ordered = events.select(["event_time", "latitude", "longitude", "speed"]).sort_by("event_time")
            return list(ordered.slice(0, limit).to_pylist())
    return []
