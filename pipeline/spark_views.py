"""Batch views on Spark: the hourly aggregates of ``pipeline.views``, the same SQL, over the lake.

    python -m pipeline.spark_views --start 2026-11-26 [--end 2026-11-28] [--jars <hadoop-aws jars>]

The driver runs in this process on ``SMARTCITY_SPARK_MASTER`` (``local[N]`` or a standalone
cluster); Spark reads the lake (``s3a://`` for an S3 lake, which needs the hadoop-aws jars),
runs each view's SQL and hands the (small) hourly result to ``pipeline.views.write_views``,
which writes ``<lake>/views/<view>/date=YYYY-MM-DD/`` exactly as the embedded engine does.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
from pyarrow import fs as pafs

from pipeline import runtime
from pipeline.lake import open_lake, partition_dates, utc
from pipeline.schemas import arrow_schema
from pipeline.settings import Settings
from pipeline.views import SOURCE, VIEWS, VIEWS_DIR, write_views

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession


def spark_path(lake_uri: str) -> str:
    """The lake's URI as Spark (Hadoop) names it."""
    if lake_uri.startswith("s3://"):
        return "s3a://" + lake_uri[len("s3://") :].rstrip("/")
    return os.path.abspath(lake_uri[len("file://") :] if lake_uri.startswith("file://") else lake_uri)


def events(spark: SparkSession, lake: str, table: str, start: datetime, end: datetime) -> DataFrame:
    """One lake table's events in ``[start, end)``; partitions outside the range are not read."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    first, last = utc(start), utc(end)  # Spark reads a naive datetime in the driver's zone
    first_date, last_date = partition_dates(first, last)
    schema = arrow_schema(table).append(pa.field("date", pa.string())).append(pa.field("hour", pa.int32()))
    base = f"{lake}/{table}"
    frame = spark.read.schema(from_arrow_schema(schema)).option("basePath", base).parquet(base)
    return frame.where(
        (F.col("date") >= first_date)
        & (F.col("date") <= last_date)
        & (F.col("event_time") >= F.lit(first))
        & (F.col("event_time") < F.lit(last))
    )


def view_table(
    spark: SparkSession, filesystem: pafs.FileSystem, root: str, lake: str, view: str, start: datetime, end: datetime
) -> pa.Table | None:
    """One view over ``[start, end)`` computed by Spark, as Arrow (None when the table is empty)."""
    table, sql = VIEWS[view]
    if filesystem.get_file_info(f"{root}/{table}").type == pafs.FileType.NotFound:
        return None
    events(spark, lake, table, start, end).createOrReplaceTempView(SOURCE)
    result = spark.sql(sql).toArrow()
    return result if result.num_rows else None


def write(spark: SparkSession, settings: Settings, start: date, end: date, folder: str = VIEWS_DIR) -> dict[str, int]:
    """Compute every view with Spark for the UTC days ``[start, end)``; write them to ``<lake>/<folder>``."""
    filesystem, root = open_lake(settings.lake_uri, runtime.s3_options(settings))
    lake = spark_path(settings.lake_uri)

    def compute(view: str, first: datetime, last: datetime) -> pa.Table | None:
        return view_table(spark, filesystem, root, lake, view, first, last)

    return write_views(filesystem, root, start, end, compute, f"{root}/{folder}")


def main(argv: list[str] | None = None) -> int:
    from pipeline.spark_job import jar_list, s3a_conf, session

    p = argparse.ArgumentParser(prog="python -m pipeline.spark_views", description=__doc__.split("\n")[0])
    p.add_argument("--start", type=date.fromisoformat, required=True, help="first UTC day, YYYY-MM-DD")
    p.add_argument("--end", type=date.fromisoformat, help="day after the last (default: start + 1 day)")
    p.add_argument("--folder", default=VIEWS_DIR, help=f"folder under the lake to write to (default {VIEWS_DIR})")
    p.add_argument("--jars", help="comma-separated jars or folders (hadoop-aws for an S3 lake)")
    args = p.parse_args(argv)
    settings = Settings()
    conf = s3a_conf(settings) if settings.lake_uri.startswith("s3://") else {}
    if args.jars:
        conf["spark.jars"] = ",".join(jar_list(args.jars))
    spark = session(settings, "smartcity-views", conf)
    try:
        end = args.end or args.start + timedelta(days=1)
        print(json.dumps(write(spark, settings, args.start, end, args.folder)))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
