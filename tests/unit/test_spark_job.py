"""The Spark job's driver-side helpers: the spark-submit command, checkpoints, counts."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.accounting import Accounting
from pipeline.settings import Settings
from pipeline.spark_job import (
    QueryHandle,
    checkpoint_location,
    kafka_lag,
    merge,
    package_zip,
    parser,
    submit_command,
    supervise,
)


def test_submit_command_carries_the_driver_stack_the_package_and_the_jars(tmp_path: Path) -> None:
    (tmp_path / "jars").mkdir()
    for name in ("b.jar", "a.jar", "notes.txt"):
        (tmp_path / "jars" / name).write_text("")
    settings = Settings(_env_file=None, spark_master="spark://127.0.0.1:7077", lake_uri="s3://lake/x",
                        spark_checkpoint_uri="s3://lake/ckpt", s3_access_key_id="AKIA-test",
                        s3_secret_access_key="hunter2")  # fmt: skip
    args = parser().parse_args(["--jars", f"{tmp_path / 'jars'},/opt/extra.jar", "--conf", "spark.executor.memory=2g"])
    cmd = submit_command(settings, args, tmp_path / "pipeline.zip")
    assert cmd[0].endswith("spark-submit") and cmd[-1].endswith("pipeline/spark_job.py")
    assert cmd[cmd.index("--master") + 1] == "spark://127.0.0.1:7077"
    # a folder's jars are read in place on every node; a named file is shipped by Spark
    assert cmd[cmd.index("--jars") + 1] == f"local://{tmp_path}/jars/a.jar,local://{tmp_path}/jars/b.jar,/opt/extra.jar"
    assert cmd[cmd.index("--py-files") + 1] == str(tmp_path / "pipeline.zip")
    confs = {cmd[i + 1] for i, part in enumerate(cmd) if part == "--conf"}
    assert {"spark.driver.extraJavaOptions=-Xss16m", "spark.executor.memory=2g"} <= confs
    assert "spark.hadoop.fs.s3a.impl=org.apache.hadoop.fs.s3a.S3AFileSystem" in confs
    assert not any("hunter2" in part or "AKIA-test" in part for part in cmd)  # `ps` shows command lines


def test_s3_checkpoints_go_through_s3a_and_local_ones_are_absolute(tmp_path: Path) -> None:
    s3 = Settings(_env_file=None, spark_checkpoint_uri="s3://bucket/checkpoints/stream")
    assert checkpoint_location(s3) == "s3a://bucket/checkpoints/stream"
    local = Settings(_env_file=None, spark_checkpoint_uri="data/ckpt")
    assert checkpoint_location(local) == str(Path("data/ckpt").resolve())


def test_the_package_zip_holds_the_pipeline_with_its_lua_script(tmp_path: Path) -> None:
    names = zipfile.ZipFile(package_zip(tmp_path)).namelist()
    assert {"pipeline/spark_executor.py", "pipeline/speed_layer.lua", "pipeline/__init__.py"} <= set(names)


def test_partition_counts_add_up_on_the_driver() -> None:
    total = Accounting()
    part = Accounting()
    part.stream("gps_data").received = 5
    part.stream("gps_data").valid = 4
    part.stream("gps_data").dead_letters = 1
    part.stream("gps_data").last_event_ms = 7
    merge(total, part.snapshot(), [1.0, 2.0])
    merge(total, part.snapshot(), [3.0])
    gps = total.snapshot()["streams"]["gps_data"]
    assert (gps["received"], gps["valid"], gps["dead_letters"], gps["last_event_ms"]) == (10, 8, 2, 7)
    assert list(total.latencies_ms) == [1.0, 2.0, 3.0]


def test_kafka_lag_is_the_offsets_behind_latest_per_stream() -> None:
    streams = {"t-gps": "gps_data", "t-weather": "weather_data"}
    source = {"endOffset": '{"t-gps": {"0": 90, "1": 50}, "t-weather": {"0": 5}}',
              "latestOffset": '{"t-gps": {"0": 100, "1": 50}, "t-weather": {"0": 5}}'}  # fmt: skip
    assert kafka_lag({"sources": [source]}, streams) == {"gps_data": 10, "weather_data": 0}
    as_dicts = {key: orjson.loads(value) for key, value in source.items()}  # pyspark 3.x gives dicts
    assert kafka_lag({"sources": [as_dicts]}, streams) == {"gps_data": 10, "weather_data": 0}
    assert kafka_lag(None, streams) is None  # before the first batch
    assert kafka_lag({"sources": [{"endOffset": source["endOffset"], "latestOffset": None}]}, streams) is None


class _Query:
    """A stand-in for a StreamingQuery: awaitTermination raises ``fails`` or returns (stopped)."""

    def __init__(self, fails: Exception | None = None) -> None:
        self.fails = fails
        self.id = "q1"
        self.lastProgress = None

    def awaitTermination(self) -> None:
        if self.fails is not None:
            raise self.fails


def test_a_failed_query_is_started_again_from_its_checkpoint_until_it_stops() -> None:
    starts: list[str] = []
    outcomes: list[Exception | _Query] = [RuntimeError("S3 unreachable"), _Query()]  # one restart fails, one runs

    def restart() -> Any:
        starts.append("start")
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    acc = Accounting()
    current = QueryHandle(_Query(RuntimeError("StreamingQueryException: Connection refused\n\tat …")))  # type: ignore[arg-type]
    supervise(current, restart, threading.Event(), acc, first_delay=0.01)
    assert starts == ["start", "start"]
    assert acc.last_error == "query failed, restarting: StreamingQueryException: Connection refused"
    assert current.query.fails is None  # the handle follows the running query


def test_a_stop_asked_while_the_query_fails_ends_the_supervision() -> None:
    stopping = threading.Event()
    stopping.set()
    current = QueryHandle(_Query(RuntimeError("stopped under a batch")))  # type: ignore[arg-type]
    supervise(current, lambda: pytest.fail("no restart after a stop"), stopping, Accounting(), first_delay=0.01)


class Py4JNetworkError(Exception):
    """py4j's name for a gateway whose JVM is gone."""


def test_a_driver_whose_jvm_is_gone_ends_instead_of_restarting_for_ever() -> None:
    def restart() -> Any:
        raise Py4JNetworkError("Answer from Java side is empty")

    current = QueryHandle(_Query(RuntimeError("query failed")))  # type: ignore[arg-type]
    with pytest.raises(Py4JNetworkError):
        supervise(current, restart, threading.Event(), Accounting(), first_delay=0.01)
