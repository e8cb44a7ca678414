"""Spark Structured Streaming job: Kafka -> the shared BatchProcessor on the executors -> Redis + lake.

    python -m pipeline.spark_job                  # submits itself with spark-submit (settings from env)
    spark-submit --master spark://127.0.0.1:7077 --jars <Kafka connector jars> --py-files pipeline.zip \\
        --conf spark.driver.extraJavaOptions=-Xss16m pipeline/spark_job.py

The job reads every topic of every stream (``Settings.stream_topics``) and, per micro-batch (``foreachBatch``), runs
``pipeline.spark_executor.PartitionJob`` on every partition (``mapInArrow``): validation,
dead letters, the speed-layer script and the lake writer are the embedded mode's own code.
Offsets live in the checkpoint; a batch interrupted by a crash is replayed with the same
offsets, which rewrites the same lake files and re-applies idempotent speed-layer writes.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson

from pipeline.accounting import Accounting, ProcessorStatus, StatusPublisher
from pipeline.lifetime import die_with_parent
from pipeline.settings import Settings
from pipeline.spark_executor import INPUT_COLUMNS, PartitionJob
from pipeline.topics import TopicWatch, create_topics

if TYPE_CHECKING:  # pragma: no cover - pyspark is imported where a session exists
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger("pipeline.spark_job")  # also when spark-submit runs it as __main__

QUERY_NAME = "smartcity-stream"
RESULT_DDL = "accounting string, latencies_ms array<double>"
PACKAGE = Path(__file__).resolve().parent


def s3a_conf(settings: Settings) -> dict[str, str]:
    """Hadoop s3a settings for an ``s3://`` checkpoint (or lake read by Spark) from the S3 settings."""
    conf = {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }
    if settings.s3_endpoint_url:
        conf["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint_url
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(settings.s3_endpoint_url.startswith("https")).lower()
    if settings.s3_region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = settings.s3_region
    return conf  # the keys are set at run time (s3a_credentials): Spark settings end up on command lines


def s3a_credentials(spark: SparkSession, settings: Settings) -> None:
    """Give Hadoop's S3A the S3 keys, inside the JVM (executors get them with each job)."""
    key, secret = settings.secret("s3_access_key_id"), settings.secret("s3_secret_access_key")
    if key and secret:
        hadoop = spark.sparkContext._jsc.hadoopConfiguration()
        hadoop.set("fs.s3a.access.key", key)
        hadoop.set("fs.s3a.secret.key", secret)


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark settings the job needs, whoever launches the driver."""
    conf = {
        # stopping a foreachBatch query overflowed the default driver stack (DESIGN.md)
        "spark.driver.extraJavaOptions": "-Xss16m",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(settings.max_batch),
        "spark.ui.showConsoleProgress": "false",
        # a micro-batch's tasks start on whichever executor is free: waiting (3 s by default) for
        # the one that read a topic-partition before saves no I/O here (Kafka is read over the
        # network either way) and held a batch, and every event in it, for that long
        "spark.locality.wait": "0",
    }
    if settings.spark_checkpoint_uri.startswith(("s3://", "s3a://")) or settings.lake_uri.startswith("s3://"):
        conf.update(s3a_conf(settings))
    return conf


def checkpoint_location(settings: Settings) -> str:
    uri = settings.spark_checkpoint_uri
    if uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://") :]
    return uri if "://" in uri else os.path.abspath(uri)


def kafka_records(spark: SparkSession, settings: Settings) -> DataFrame:
    """Every stream's topics as a stream of Kafka records, plus the micro-batch's time.

    ``current_timestamp()`` in a streaming plan is the batch time Spark records in its
    offset log, so a replayed batch sees the same value (the rows' ingest time).
    """
    from pyspark.sql import functions as F

    if not settings.kafka_bootstrap_servers:
        raise SystemExit("the Spark job reads Kafka: set SMARTCITY_KAFKA_BOOTSTRAP_SERVERS")
    # A subscribed topic the broker does not host fails every micro-batch (UnknownTopicOrPartition,
    # measured), and the default lists name topics only the public simulators write to: create them.
    created = create_topics(settings.kafka_bootstrap_servers, settings.topic_streams(), settings.kafka_partitions,
                            settings.kafka_replication_factor)  # fmt: skip
    if created:
        log.info("created the topics %s (read, not there yet)", ",".join(created))
    source = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", ",".join(settings.topic_streams()))  # every topic of every stream
        .option("startingOffsets", "earliest")  # a new checkpoint starts from what Kafka retains
        .option("maxOffsetsPerTrigger", settings.spark_max_offsets_per_trigger)
        # records deleted by retention before we read them are logged, not fatal: the job
        # must keep serving the city; the dead-letter and lake counts show what arrived
        .option("failOnDataLoss", "false")
        # each task reads its offset ranges and stops; waiting for more data only delays it.
        # With the broker default (500 ms) every topic-partition read took ~0.5 s: a 1,000-event
        # batch took 1.5-2.5 s, and Kafka -> Redis p99 was 3.9 s (now ~1.7 s at trigger 500 ms).
        .option("kafka.fetch.max.wait.ms", "1")
        .load()
    )
    columns = [F.col(c) for c in INPUT_COLUMNS if c != "batch_time"]
    return source.select(*columns, F.current_timestamp().alias("batch_time"))


def merge(total: Accounting, snapshot: dict[str, Any], latencies: list[float]) -> None:
    """Add one partition's counts (``Accounting.snapshot()``) into the driver's totals."""
    with total.lock:
        for name, counts in snapshot["streams"].items():
            mine = total.stream(name)
            for key, value in counts.items():
                if key == "last_event_ms":
                    mine.last_event_ms = max(mine.last_event_ms, value)
                else:
                    setattr(mine, key, getattr(mine, key) + value)
        total.speed_layer_errors += snapshot["speed_layer_errors"]
        total.lake_errors += snapshot["lake_errors"]
        total.alerts += snapshot.get("alerts", 0)
        total.rules_errors += snapshot.get("rules_errors", 0)
        total.last_error = snapshot["last_error"] or total.last_error
        total.lake_written_ms = max(total.lake_written_ms, snapshot.get("lake_written_ms", 0))
        total.latencies_ms.extend(latencies)
        for row in snapshot.get("clocks_ahead") or []:
            seen = datetime.fromtimestamp(row["seen_ms"] / 1000, UTC)
            total.clock_ahead(row["stream"], row["device_id"], row["skew_s"], seen)


class MicroBatch:
    """The ``foreachBatch`` function: runs the partitions, then sums and logs their counts."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        accounting: Accounting,
        on_batch: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> None:
        self.spark = spark
        self.settings = settings
        self.accounting = accounting
        self.on_batch = on_batch
        self._run_id: str | None = None

    def run_id(self) -> str:
        """The query's id (kept in the checkpoint across restarts), shortened."""
        if self._run_id is None:
            query = next(q for q in self.spark.streams.active if q.name == QUERY_NAME)
            self._run_id = str(query.id).replace("-", "")[:8]
        return self._run_id

    def __call__(self, records: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        job = PartitionJob(self.settings, self.run_id())
        # one task per core rather than per topic-partition: tasks cost more than records here
        parallelism = self.spark.sparkContext.defaultParallelism
        rows = records.coalesce(parallelism).mapInArrow(job, RESULT_DDL).collect()
        batch = Accounting()
        slowest: dict[str, float] = {}
        for row in rows:
            snapshot = orjson.loads(row["accounting"])
            merge(batch, snapshot, row["latencies_ms"] or [])
            if snapshot.get("task_s", {}).get("all", 0) >= slowest.get("all", 0):
                slowest = snapshot["task_s"]
        batch.batches = 1
        counts = batch.snapshot()
        merge(self.accounting, counts, list(batch.latencies_ms))
        with self.accounting.lock:
            self.accounting.batches += 1
        totals = counts["totals"]
        if totals["received"]:
            log.info(
                "batch %d: %d events (%d valid, %d dead letters) -> speed layer %d, lake %d rows in %.2f s "
                "(slowest task: first records %.2f s, speed layer done %.2f s, lake done %.2f s)",
                batch_id, totals["received"], totals["valid"], totals["dead_letters"], totals["speed_layer"],
                totals["lake_rows"], time.monotonic() - started, slowest.get("first_records", 0),
                slowest.get("speed_layer", 0), slowest.get("all", 0),
            )  # fmt: skip
        if counts["speed_layer_errors"]:
            log.error("batch %d: %d speed-layer writes failed: %s", batch_id, counts["speed_layer_errors"],
                      counts["last_error"])  # fmt: skip
        if self.on_batch is not None:
            self.on_batch(batch_id, counts)


def kafka_lag(progress: Mapping[str, Any] | None, streams: Mapping[str, str]) -> dict[str, int] | None:
    """Records behind the latest offsets, per stream, when the last micro-batch was planned
    (the Kafka source's ``endOffset`` vs ``latestOffset`` in the query's progress).

    None before the first batch or when a source reports no latest offsets."""
    if not progress:
        return None
    lag: dict[str, int] = {}
    for source in progress["sources"] or []:
        end, latest = _offsets(source["endOffset"]), _offsets(source["latestOffset"])
        if not latest:
            return None
        for topic, parts in latest.items():
            done = end.get(topic) or {}
            behind = sum(max(0, int(off) - int(done.get(p, off))) for p, off in parts.items())
            stream = streams.get(topic, topic)
            lag[stream] = lag.get(stream, 0) + behind
    return lag


def _offsets(value: Any) -> dict[str, dict[str, int]]:
    """Kafka source offsets ``{"topic": {"partition": offset}}``: pyspark gives JSON text (4.x)
    or a dict (3.x)."""
    if isinstance(value, str | bytes):
        value = orjson.loads(value) if value else None
    return value if isinstance(value, dict) else {}


def topic_watch(settings: Settings) -> TopicWatch | None:
    """The driver's watch over the cluster's topics that no stream reads (the dead-letter
    topic is ours too); None without Kafka."""
    if not settings.kafka_bootstrap_servers:
        return None
    skip = [settings.dead_letter_topic] if settings.dead_letter_topic else []
    return TopicWatch(settings.kafka_bootstrap_servers, settings.topic_streams(), skip)


def status_publisher(
    settings: Settings, query: StreamingQuery, accounting: Accounting, watch: TopicWatch | None = None
) -> StatusPublisher | None:
    """The driver's publisher of the job's status (its summed accounting, Kafka lag, the topics
    it reads and, from ``watch``, those it does not) to Redis, for the console; None when no
    Redis is configured (nothing would read it)."""
    url = settings.secret("redis_url")
    if not url:
        return None
    import redis

    from pipeline import runtime

    # no ping: a Redis down when the driver starts must not stop the job; publishing retries each second
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    streams = settings.topic_streams()
    name = "spark:" + str(query.id).replace("-", "")[:8]  # as the lake files' run id: kept across restarts
    status = ProcessorStatus(name, "spark", accounting, lambda: kafka_lag(query.lastProgress, streams),
                             topics=streams, unread_topics=watch.current if watch else None)  # fmt: skip
    return StatusPublisher(runtime.speed_layer(settings, client), status)


def start(
    spark: SparkSession,
    settings: Settings,
    accounting: Accounting | None = None,
    on_batch: Callable[[int, dict[str, Any]], None] | None = None,
) -> StreamingQuery:
    """Start the streaming query on ``spark``; returns it (stop it with ``query.stop()``)."""
    handler = MicroBatch(spark, settings, accounting or Accounting(), on_batch)
    return (
        kafka_records(spark, settings)
        .writeStream.queryName(QUERY_NAME)
        .foreachBatch(handler)
        .option("checkpointLocation", checkpoint_location(settings))
        .trigger(processingTime=f"{int(settings.spark_trigger_seconds * 1000)} milliseconds")
        .start()
    )


def session(settings: Settings, app_name: str = QUERY_NAME, conf: dict[str, str] | None = None) -> SparkSession:
    """A SparkSession with the job's settings; started here, the driver runs in this process
    on ``settings.spark_master`` and ships the ``pipeline`` package to the executors."""
    from pyspark.sql import SparkSession

    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit already set master, files, Python
    builder = SparkSession.builder.appName(app_name)
    settings_conf = spark_conf(settings)
    if not under_submit:
        builder = builder.master(settings.spark_master)
        # pyspark's driver picks the executors' Python from this variable (this venv unless set)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in (settings_conf | (conf or {})).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    s3a_credentials(spark, settings)
    if not under_submit:
        tmp = Path(tempfile.mkdtemp(prefix="smartcity-spark-"))
        atexit.register(shutil.rmtree, tmp, True)
        spark.sparkContext.addPyFile(str(package_zip(tmp)))
    return spark


# -- command line ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline.spark_job", description=__doc__.split("\n")[0])
    p.add_argument("--master", help="Spark master (default: SMARTCITY_SPARK_MASTER)")
    p.add_argument("--jars", help="the Kafka connector (and hadoop-aws) jars: comma-separated files, URIs or folders")
    p.add_argument("--python", default=sys.executable, help="Python the executors run (default: this one)")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting")
    return p


def package_zip(directory: Path) -> Path:
    """The ``pipeline`` package as a zip for ``--py-files`` (the executors import it from there)."""
    target = directory / "pipeline.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(PACKAGE.iterdir()):
            if path.suffix in (".py", ".lua"):
                zf.write(path, f"pipeline/{path.name}")
    return target


def jar_list(spec: str) -> list[str]:
    """Jars from comma-separated files, URIs and folders.

    A folder's jars become ``local://`` URIs: present at that path on every node (one machine,
    or baked into the image), so executors read them in place instead of each fetching ~700 MB
    from the driver. Name files (or URIs) to have Spark ship them.
    """
    jars: list[str] = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        path = Path(item)
        if path.is_dir():
            jars.extend(f"local://{p.resolve()}" for p in sorted(path.glob("*.jar")))
        else:
            jars.append(item)
    return jars


def submit_command(settings: Settings, args: argparse.Namespace, py_files: Path) -> list[str]:
    """The spark-submit command line that runs this file as the driver."""
    cmd = [str(Path(sys.executable).with_name("spark-submit")), "--master", args.master or settings.spark_master,
           "--name", QUERY_NAME, "--py-files", str(py_files)]  # fmt: skip
    if args.jars:
        cmd += ["--jars", ",".join(jar_list(args.jars))]
    conf = spark_conf(settings) | {"spark.pyspark.python": args.python}
    conf |= dict(item.split("=", 1) for item in args.conf)
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, str(PACKAGE / "spark_job.py")]


def driver_pid(jvm: int) -> int | None:
    """The Python driver spark-submit's JVM started for this file (Linux ``/proc``), if any."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid == jvm and b"spark_job.py" in (stat.parent / "cmdline").read_bytes():
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def submit(settings: Settings, args: argparse.Namespace) -> int:
    """Run spark-submit on this file and wait.

    SIGINT/SIGTERM go to the Python driver, which stops the query and exits; the JVM then
    ends by itself (signalled directly, its shutdown hook would stop Spark under the running
    batch). Killing this process, even with SIGKILL, kills the job: no orphaned driver.
    """
    from pyspark.find_spark_home import _find_spark_home

    # spark-submit looks for Spark with whatever `python3` is on PATH; point it at this install
    env = {"SPARK_HOME": _find_spark_home(), **os.environ}
    with tempfile.TemporaryDirectory(prefix="smartcity-spark-") as tmp:
        cmd = submit_command(settings, args, package_zip(Path(tmp)))
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=die_with_parent(os.getpid()))

        def forward(signum: int, _frame: Any) -> None:
            driver = driver_pid(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                if driver is not None:
                    os.kill(driver, signum)
                else:  # not started yet (or not Linux): the whole job
                    os.killpg(proc.pid, signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, forward)
        return proc.wait()


class QueryHandle:
    """The query the driver runs now: a failed query is started again, and readers (the status
    publisher's lag, the signal handler) must follow it to the new one."""

    def __init__(self, query: StreamingQuery) -> None:
        self.query = query

    @property
    def id(self) -> Any:  # kept across restarts: it lives in the checkpoint
        return self.query.id

    @property
    def lastProgress(self) -> Any:  # StreamingQuery's name: status_publisher reads it
        return self.query.lastProgress


def run_driver(settings: Settings) -> int:
    """The driver itself (under spark-submit): start the query and keep it running until stopped.

    A query that fails (S3 or Kafka away longer than their clients retry, a task failed past
    Spark's retries) is started again from its checkpoint, after a pause that doubles up to a
    minute: its batches are replayed exactly (lake files named by offsets, an idempotent speed
    layer), so nothing is lost or doubled, and the job never ends on its own.

    SIGTERM/SIGINT stop the query; a batch cut short is replayed from the checkpoint on the
    next start. A signal to the whole process group also reaches the JVM, whose shutdown
    hook stops Spark at the same time: errors from that race mean "stopped", not "failed".
    """
    die_with_parent(os.getppid())()  # the JVM that started us: if it dies (even SIGKILLed), so do we
    spark = session(settings)
    if "-Xss16m" not in (spark.sparkContext.getConf().get("spark.driver.extraJavaOptions") or ""):
        log.warning("driver started without -Xss16m: stopping the query may overflow its stack")
    accounting = Accounting()
    current = QueryHandle(start(spark, settings, accounting))
    stopping = threading.Event()
    watch = topic_watch(settings)
    publisher = status_publisher(settings, cast("StreamingQuery", current), accounting, watch)
    # a thread, not each batch: an idle job (no batch runs without new records) still shows as up
    publishing = None
    if publisher is not None:
        publishing = threading.Thread(target=publisher.run, args=(stopping,), name="smartcity-status", daemon=True)
        publishing.start()
        if watch is not None:  # its own thread: a slow broker answer must not delay the status
            threading.Thread(target=watch.run, args=(stopping,), name="smartcity-topics", daemon=True).start()

    def stop_query() -> None:
        try:
            current.query.stop()
        except Exception as exc:  # Spark may already be shutting down
            log.debug("stopping the query: %s", exc)

    def on_signal(signum: int, _frame: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("signal %d: stopping the query (the checkpoint keeps its place)", signum)
            threading.Thread(target=stop_query, daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    log.info("streaming %s -> checkpoint %s", ",".join(settings.topic_streams()), checkpoint_location(settings))
    try:
        supervise(current, lambda: start(spark, settings, accounting), stopping, accounting)
    finally:
        stopping.set()
        if publishing is not None:
            publishing.join(timeout=5)  # its last status says "stopped"
        with contextlib.suppress(Exception):
            spark.stop()
    return 0


def supervise(
    current: QueryHandle,
    restart: Callable[[], StreamingQuery],
    stopping: threading.Event,
    accounting: Accounting,
    first_delay: float = 2.0,
) -> None:
    """Wait for ``current``'s query; when it fails (and no stop was asked), start it again after
    a pause (``first_delay`` doubling to 60 s), until ``stopping`` is set."""
    delay = first_delay
    while not stopping.is_set():
        began = time.monotonic()
        try:
            current.query.awaitTermination()
            return  # stopped
        except Exception as exc:
            if stopping.is_set():
                return
            if time.monotonic() - began > 300:  # it ran well for a while: a new trouble, a short pause
                delay = first_delay
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            with accounting.lock:
                accounting.last_error = f"query failed, restarting: {reason}"
            log.error("the streaming query failed (%s); starting it again from its checkpoint in %.0f s", reason, delay)
        while not stopping.wait(delay):
            delay = min(60.0, delay * 2)
            try:
                current.query = restart()
                break
            except Exception as exc:
                if isinstance(exc, ConnectionError) or type(exc).__name__ == "Py4JNetworkError":
                    raise  # the JVM is gone: nothing to restart the query in, so the driver ends
                log.error("the streaming query did not start again (%s); next try in %.0f s", exc, delay)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per foreachBatch call otherwise
    # spark-submit starts the Python driver with the address of its JVM in the environment
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        return run_driver(settings)
    return submit(settings, args)


if __name__ == "__main__":
    sys.exit(main())
