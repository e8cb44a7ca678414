"""The session's Spark standalone cluster: two workers, and a job submitted with the jars runs on it."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import uuid
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from pyarrow import fs as pafs

from cluster.health import spark_health
from cluster.spark import master_json
from cluster.topology import ClusterState
from producers.kafka import KafkaSink

pytestmark = pytest.mark.distributed

JOB = textwrap.dedent("""\
    import json, sys
    from pyspark.sql import SparkSession

    bootstrap, topic, out, endpoint = sys.argv[1:5]
    spark = (SparkSession.builder.appName(topic)
             .config("spark.hadoop.fs.s3a.endpoint", endpoint)
             .config("spark.hadoop.fs.s3a.path.style.access", "true")
             .config("spark.hadoop.fs.s3a.connection.ssl.enabled", "false")
             .config("spark.hadoop.fs.s3a.access.key", "testing")
             .config("spark.hadoop.fs.s3a.secret.key", "testing")
             .config("spark.hadoop.fs.s3a.endpoint.region", "us-east-1")
             .getOrCreate())
    counted = spark.range(10_000).repartition(4).count()
    events = (spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap)
              .option("subscribe", topic).option("startingOffsets", "earliest").load()
              .selectExpr("CAST(key AS STRING) AS device_id", "CAST(value AS STRING) AS value"))
    events.write.mode("overwrite").parquet(out)
    print(json.dumps({"counted": counted, "written": spark.read.parquet(out).count()}))
    spark.stop()
""")


def test_the_master_reports_two_alive_workers(cluster: ClusterState) -> None:
    assert cluster.spark_ui_url
    workers = master_json(cluster.spark_ui_url)["workers"]
    assert [w["state"] for w in workers] == ["ALIVE", "ALIVE"]
    assert spark_health(cluster).ok


def test_a_submitted_job_reads_kafka_and_writes_s3_on_the_workers(cluster: ClusterState, tmp_path: Path) -> None:
    assert cluster.bootstrap_servers and cluster.s3_endpoint_url and cluster.spark_ui_url
    topic = f"t{uuid.uuid4().hex[:6]}.gps"
    sink = KafkaSink(cluster.bootstrap_servers, {"gps": topic})
    sink.send([("gps", f"bus-{i % 9}", {"device_id": f"bus-{i % 9}", "speed": i}) for i in range(250)])
    sink.close()
    assert sink.stats.delivered == 250
    job = tmp_path / "job.py"
    job.write_text(JOB)
    out = f"s3a://{cluster.s3_bucket}/{topic}/"

    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")} | cluster.spark_env()
    command = cluster.spark_submit(job, cluster.bootstrap_servers, topic, out, cluster.s3_endpoint_url)
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"counted": 10_000, "written": 250}

    s3 = pafs.S3FileSystem(endpoint_override=cluster.s3_endpoint_url.removeprefix("http://"), scheme="http",
                           region=cluster.s3_region,
                           access_key=cluster.s3_access_key_id, secret_key=cluster.s3_secret_access_key)  # fmt: skip
    table = ds.dataset(f"{cluster.s3_bucket}/{topic}/", filesystem=s3, format="parquet").to_table()
    assert sorted(table.column("device_id").to_pylist()) == sorted(f"bus-{i % 9}" for i in range(250))
    apps = master_json(cluster.spark_ui_url)["completedapps"]
    assert [app["state"] for app in apps if app["name"] == topic] == ["FINISHED"]
