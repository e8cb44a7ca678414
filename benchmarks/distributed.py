"""Distributed-mode benchmark: prints one JSON document of figures measured in one run.

    python -m benchmarks.distributed          # starts a native cluster (scripts/cluster) and stops it
    eval "$(scripts/cluster env)" && python -m benchmarks.distributed   # or uses the running one

- ``kafka_producer_perf_test``: Kafka's own ``ProducerPerformance`` on the same broker, with
  records the size of ours: the reference for what the bus alone takes.
- ``throughput``: events/s through Kafka -> the Spark job (``pipeline.spark_job``, driver in
  this process) -> Redis + S3, draining a backlog of simulated events, for several topic
  partition counts and Spark worker counts (``spark.cores.max``; each worker has one core).
- ``latency``: Kafka -> Redis p50/p99 (record CreateTime to the speed-layer write) while a
  producer offers a fixed rate in real time, trigger 500 ms (``--trigger-ms``).
- ``batch_ms`` (both): p50/p99 of the parts of a micro-batch, from Spark's progress reports
  (``addBatch`` is the tasks; ``walCommit``/``commitOffsets`` the checkpoint); the driver's log
  says, per batch, where its slowest task spent its time.
- ``load_average_*``: the machine's load around the run: figures taken beside other work are
  not comparable with quiet ones.

``--only latency`` (or ``throughput``) and smaller ``--seconds``/``--latency-seconds`` give
quicker figures while iterating.

Each run uses topics, a key prefix, a lake prefix and a checkpoint of its own.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from benchmarks import run
from benchmarks.pipeline import machine
from cluster.jars import java, kafka_classpath, spark_jars_option
from cluster.spark import spark_env
from cluster.topology import Cluster
from pipeline.accounting import Accounting
from pipeline.schemas import STREAMS
from pipeline.settings import Settings
from pipeline.topics import create_topics
from producers.simulation import CitySimulation, SimulationConfig

Message = tuple[str, bytes, bytes]  # stream, key, value
TRIGGER_MS = 500
PROGRESS = {"spark.sql.streaming.numRecentProgressUpdates": "1000"}  # every batch of a run


def simulate(vehicles: int, seconds: int, start: datetime) -> list[list[Message]]:
    """The city's events, one list per simulated second."""
    sim = CitySimulation(SimulationConfig(vehicles=vehicles, start=start, seed=7, incidents_per_hour=30))
    return [[(s, k.encode(), orjson.dumps(e)) for s, k, e in sim.step(1.0)] for _ in range(seconds)]


def producer(bootstrap: str) -> Any:
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                     "compression.type": "lz4", "queue.buffering.max.messages": 1_000_000})  # fmt: skip


def produce(bootstrap: str, topics: dict[str, str], seconds: list[list[Message]]) -> int:
    p = producer(bootstrap)
    n = 0
    for events in seconds:
        for stream, key, value in events:
            p.produce(topics[stream], value, key)
            n += 1
        p.poll(0)
    if p.flush(120):
        raise RuntimeError("benchmark events not delivered to Kafka")
    return n


def job_settings(base: Settings, run: str, **overrides: Any) -> tuple[Settings, dict[str, str]]:
    topics = {s: f"bench{run}_{s}" for s in STREAMS}
    bucket_or_dir = base.lake_uri.rstrip("/")
    settings = base.model_copy(
        update={f"topic_{s}": t for s, t in topics.items()}
        | {
            "redis_prefix": f"bench{run}:",
            "lake_uri": f"{bucket_or_dir}/bench-{run}",
            "spark_checkpoint_uri": f"{tempfile.gettempdir()}/smartcity-bench/{run}",
        }
        | overrides
    )
    return settings, topics


class Recorder:
    """Counts per micro-batch, as the driver sees them."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, int]] = []  # (time the batch ended, events)
        self.lock = threading.Lock()

    def __call__(self, _batch_id: int, counts: dict[str, Any]) -> None:
        with self.lock:
            self.batches.append((time.monotonic(), counts["totals"]["received"]))

    def events(self) -> int:
        with self.lock:
            return sum(n for _, n in self.batches)


def wait_until(condition: Any, timeout: float, query: Any) -> bool:
    """Wait for ``condition``; False on timeout; raises if the streaming query died."""
    deadline = time.monotonic() + timeout
    while not condition():
        if not query.isActive:
            raise RuntimeError(f"the Spark job stopped: {query.exception()}")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def throughput(
    spark: Any, base: Settings, seconds: list[list[Message]], partitions: int, workers: int
) -> dict[str, Any]:
    """Drain a backlog: events/s from the end of the first (warm-up) batch to the last one."""
    from pipeline import spark_job

    run = uuid.uuid4().hex[:6]
    settings, topics = job_settings(base, run, spark_max_offsets_per_trigger=50_000, spark_trigger_seconds=0.5)
    create_topics(base.kafka_bootstrap_servers or "", list(topics.values()), partitions)
    total = produce(base.kafka_bootstrap_servers or "", topics, seconds)
    recorder = Recorder()
    query = spark_job.start(spark, settings, on_batch=recorder)
    try:
        done = wait_until(lambda: recorder.events() >= total, 1800, query)
        progress = list(query.recentProgress)
    finally:
        query.stop()
    batches = recorder.batches
    (t_first, n_first), (t_last, _) = batches[0], batches[-1]
    measured = recorder.events() - n_first
    span = t_last - t_first
    return {
        "partitions_per_topic": partitions,
        "workers": workers,
        "events": total,
        "drained": done,
        "batches": len(batches),
        "events_per_s": round(measured / span) if span > 0 else None,
        "batch_ms": batch_parts(progress[1:]),  # the first batch starts the executors' Python
    }


def batch_parts(progress: list[Any]) -> dict[str, Any]:
    """p50/p99 of the parts of the micro-batches that read events (Spark's ``durationMs``)."""
    parts: dict[str, list[float]] = {}
    for p in progress:
        p = p if isinstance(p, dict) else json.loads(p.json)
        if p.get("numInputRows"):
            for name, ms in (p.get("durationMs") or {}).items():
                parts.setdefault(name, []).append(ms)
    out: dict[str, Any] = {}
    for name, values in sorted(parts.items()):
        values.sort()
        out[name] = {"p50": values[len(values) // 2], "p99": values[min(len(values) - 1, int(len(values) * 0.99))]}
    return out


def latency(
    spark: Any, base: Settings, seconds: list[list[Message]], partitions: int, trigger_ms: int = 500
) -> dict[str, Any]:
    """Offer one simulated second of events per wall second; Kafka CreateTime -> Redis write."""
    from pipeline import spark_job

    run = uuid.uuid4().hex[:6]
    settings, topics = job_settings(base, run, spark_trigger_seconds=trigger_ms / 1000)
    bootstrap = base.kafka_bootstrap_servers or ""
    create_topics(bootstrap, list(topics.values()), partitions)
    accounting = Accounting(latencies_ms=deque(maxlen=2_000_000))
    recorder = Recorder()
    produce(bootstrap, topics, seconds[:1])  # warm-up: executors start their Python workers
    query = spark_job.start(spark, settings, accounting, on_batch=recorder)
    try:
        wait_until(lambda: recorder.events() >= len(seconds[0]), 300, query)
        with accounting.lock:
            accounting.latencies_ms.clear()
        p = producer(bootstrap)
        offered = 0
        t0 = time.monotonic()
        for i, events in enumerate(seconds[1:]):
            for j in range(10):  # in 100 ms slices, as devices report through a second
                for stream, key, value in events[j::10]:
                    p.produce(topics[stream], value, key)
                p.poll(0)
                wait = t0 + i + (j + 1) / 10 - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            offered += len(events)
        p.flush(60)
        wall = time.monotonic() - t0
        total = sum(len(s) for s in seconds)
        wait_until(lambda: recorder.events() >= total, 300, query)
        progress = list(query.recentProgress)
    finally:
        query.stop()
    lat = accounting.latency_percentiles()
    return {
        "trigger_ms": trigger_ms,
        "partitions_per_topic": partitions,
        "offered_events_per_s": round(offered / wall),
        "seconds": round(wall, 1),
        "samples": len(accounting.latencies_ms),
        "p50_ms": lat["p50"],
        "p99_ms": lat["p99"],
        "max_ms": lat["max"],
        "p99_within_2s": (lat["p99"] or 1e9) <= 2000,
        "p99_within_1s": (lat["p99"] or 1e9) <= 1000,
        "batches": len(recorder.batches),
        "batch_ms": batch_parts(progress),  # where a micro-batch's time goes
    }


def producer_perf_test(bootstrap: str, kafka_classpath: str, record_size: int, records: int) -> dict[str, Any]:
    """org.apache.kafka.tools.ProducerPerformance with our producer's settings."""
    topic = f"bench-perf-{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, [topic], 3)
    cmd = [java(), "-Xmx512m", "-cp", kafka_classpath, "org.apache.kafka.tools.ProducerPerformance",
           "--topic", topic, "--num-records", str(records), "--record-size", str(record_size), "--throughput", "-1",
           "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all", "linger.ms=5", "compression.type=lz4",
           "enable.idempotence=true"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    final = [line for line in out.splitlines() if "records sent" in line][-1:]
    match = (
        re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\).*?([\d.]+) ms avg latency", final[0]) if final else None
    )
    return {
        "command": "ProducerPerformance " + " ".join(cmd[cmd.index("--topic") :]),
        "records_per_s": round(float(match.group(1))) if match else None,
        "mb_per_s": float(match.group(2)) if match else None,
        "avg_latency_ms": float(match.group(3)) if match else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed", description=__doc__.split("\n")[0])
    p.add_argument("--jars", help="Spark's extra jars, files or folders (default: the cluster's, .cache/jars/spark)")
    p.add_argument("--kafka-jars", help="folder of the Kafka jars for ProducerPerformance (default .cache/jars/kafka)")
    p.add_argument("--vehicles", type=int, default=1000)
    p.add_argument("--seconds", type=int, default=150, help="simulated seconds of backlog per throughput run")
    p.add_argument("--partitions", default="1,3,6", help="partitions per topic to compare (2 workers)")
    p.add_argument("--latency-vehicles", type=int, default=500, help="load of the latency run (~2 events/s each)")
    p.add_argument("--latency-seconds", type=int, default=60)
    p.add_argument("--latency-partitions", type=int, default=3, help="partitions per topic in the latency run")
    p.add_argument("--trigger-ms", type=int, default=TRIGGER_MS, help="the latency run's micro-batch interval")
    p.add_argument("--only", choices=("throughput", "latency"), help="run only these figures (and the reference)")
    args = p.parse_args(argv)

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints where a long run is
    logging.basicConfig(level="INFO", format="%(asctime)s %(name)s: %(message)s")  # batches on stderr
    logging.getLogger("py4j").setLevel(logging.WARNING)
    own = None
    if not Settings().kafka_bootstrap_servers:
        own = Cluster(
            Path(tempfile.mkdtemp(prefix="smartcity-bench-cluster-")), progress=lambda m: print(m, file=sys.stderr)
        )
        os.environ.update(own.up().env())
    os.environ.update(spark_env())  # the driver runs here: loopback, this venv's Python for executors
    try:
        print(json.dumps(run_all(args, Settings()), indent=2))
    finally:
        if own is not None:
            own.down()
            shutil.rmtree(own.root, ignore_errors=True)
    return 0


def run_all(args: argparse.Namespace, base: Settings) -> dict[str, Any]:
    from pipeline import spark_job

    if not (base.kafka_bootstrap_servers and base.redis_url and base.spark_master.startswith("spark://")):
        raise SystemExit("SMARTCITY_KAFKA_BOOTSTRAP_SERVERS, _REDIS_URL and _SPARK_MASTER must name a cluster")
    jars = ",".join(spark_job.jar_list(args.jars)) if args.jars else spark_jars_option()
    kafka_cp = str(Path(args.kafka_jars) / "*") if args.kafka_jars else kafka_classpath()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=args.seconds + 60)
    backlog = simulate(args.vehicles, args.seconds, start)
    sizes = [len(v) for second in backlog for _, _, v in second]
    result: dict[str, Any] = {
        "benchmark": "distributed",
        "machine": machine(),
        "spark_master": base.spark_master,
        "lake": base.lake_uri.split("://")[0] if "://" in base.lake_uri else "local",
        "backlog": {"vehicles": args.vehicles, "events": len(sizes), "avg_event_bytes": round(sum(sizes) / len(sizes))},
    }
    result["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]  # the machine may be shared
    result["kafka_producer_perf_test"] = producer_perf_test(
        base.kafka_bootstrap_servers or "", kafka_cp, result["backlog"]["avg_event_bytes"], 500_000
    )
    runs = [(int(n), 2) for n in args.partitions.split(",")] + [(3, 1)]
    if args.only == "latency":
        runs = []
    result["throughput"] = []
    for partitions, workers in runs:
        # spark.cores.max applies per application: one app per worker count
        conf = {"spark.jars": jars, "spark.cores.max": str(workers)} | PROGRESS
        spark = spark_job.session(base, f"bench-{workers}w", conf)
        try:
            result["throughput"].append(throughput(spark, base, backlog, partitions, workers))
        finally:
            spark.stop()
    best = max((r["events_per_s"] or 0 for r in result["throughput"]), default=0)
    reference = result["kafka_producer_perf_test"]["records_per_s"]
    # the target: the job carries at least half of what the broker alone accepts, in the same run
    result["throughput_ratio_to_perf_test"] = round(best / reference, 3) if best and reference else None
    if args.only == "throughput":
        result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return result
    spark = spark_job.session(base, "bench-latency", {"spark.jars": jars} | PROGRESS)
    try:
        live_start = datetime.now(UTC).replace(microsecond=0)
        live = simulate(args.latency_vehicles, args.latency_seconds + 1, live_start)
        result["latency"] = latency(spark, base, live, args.latency_partitions, args.trigger_ms)
    finally:
        spark.stop()
        shutil.rmtree(Path(tempfile.gettempdir()) / "smartcity-bench", ignore_errors=True)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


if __name__ == "__main__":
    run(main)
