"""Batch views: Spark on the cluster and DuckDB over the same S3 lake give the same rows."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest

from cluster.topology import ClusterState
from pipeline import runtime
from pipeline.lake import LakeWriter, open_lake
from pipeline.settings import Settings
from pipeline.views import VIEWS, read_view, write_views
from tests.city import simulated_lake

pytestmark = pytest.mark.distributed
ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)  # two hours across midnight: two day partitions


@pytest.fixture(scope="module")
def lake(cluster: ClusterState) -> dict[str, str]:
    """Two simulated hours (10-s steps) of a 40-vehicle city in an S3 lake of this module's own."""
    env = cluster.env() | {"SMARTCITY_LAKE_URI": f"s3://{cluster.s3_bucket}/views-{uuid.uuid4().hex[:8]}/lake"}
    settings = Settings(_env_file=None, **{k[len("SMARTCITY_") :].lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    simulated_lake(LakeWriter(*open_lake(settings.lake_uri, runtime.s3_options(settings))), START,
                   incidents_per_hour=30, seed=4)  # fmt: skip
    return env


def test_spark_and_duckdb_write_the_same_hourly_views(cluster: ClusterState, lake: dict[str, str]) -> None:
    first, end = date(2026, 11, 26), date(2026, 11, 28)
    settings = Settings(_env_file=None, **{k[len("SMARTCITY_") :].lower(): v for k, v in lake.items()})  # type: ignore[arg-type]
    fs, root = open_lake(settings.lake_uri, runtime.s3_options(settings))
    embedded = write_views(fs, root, first, end)

    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")} | cluster.spark_env() | lake
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.spark_views", "--start", first.isoformat(), "--end", end.isoformat(),
         "--folder", "views-spark", "--jars", cluster.jars_option],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert orjson.loads(done.stdout.strip().splitlines()[-1]) == embedded
    assert all(embedded[view] > 0 for view in VIEWS), embedded
    for view in VIEWS:
        duck = read_view(fs, root, view).to_pylist()
        spark = read_view(fs, root, view, f"{root}/views-spark").to_pylist()
        assert spark == duck, view
