"""The whole native cluster: Kafka, a Spark master and workers, Redis and S3, on loopback.

``Cluster(root).up()`` starts everything as daemons and writes ``<root>/state.json`` (PIDs,
ports, URLs; logs beside it); ``down()`` stops exactly the recorded processes
(:mod:`cluster.health` says whether each service is healthy). ``python -m cluster`` and the
tests both use this.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cluster.exceptions import ClusterError
from cluster.jars import CACHE, fetch_all, spark_jars, spark_jars_option
from cluster.kafka import KafkaNode, kafka_nodes
from cluster.process import ProcessRecord, stop_all
from cluster.services import RedisClusterServer, RedisServer, S3Server, Service
from cluster.spark import SparkMaster, SparkWorker, spark_env, spark_home
from pipeline.topics import broker_count

SERVICES = ("kafka", "spark", "redis", "s3")
BUCKET = "smartcity"
Progress = Callable[[str], None]
S = TypeVar("S", bound=Service)


@dataclass
class ClusterState:
    """What ``up`` started and where to reach it; saved as ``<root>/state.json``."""

    root: Path
    brokers: int = 0
    workers: int = 0
    bootstrap_servers: str | None = None
    spark_master: str | None = None
    spark_ui_url: str | None = None
    redis_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = S3Server.region
    s3_access_key_id: str = S3Server.access_key
    s3_secret_access_key: str = S3Server.secret_key
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.root / "state.json"

    @property
    def lake_uri(self) -> str | None:
        return f"s3://{self.s3_bucket}/lake" if self.s3_bucket else None

    @property
    def jars(self) -> list[Path]:
        """The Spark job's extra jars (Kafka source, S3A): see :func:`cluster.jars.spark_jars`."""
        return spark_jars(CACHE)

    @property
    def jars_option(self) -> str:
        """The same as ``local:`` URIs, comma-separated: the value for ``--jars`` / ``spark.jars``."""
        return spark_jars_option(CACHE)

    def spark_env(self) -> dict[str, str]:
        """Environment for a Spark driver on this machine (loopback, our venv's Python, Java)."""
        return spark_env()

    def spark_submit(self, app: str | Path, *args: str) -> list[str]:
        """A ``spark-submit`` command line running ``app`` on this cluster with the extra jars
        (run it with :meth:`spark_env` added to the environment)."""
        submit = str(spark_home() / "bin" / "spark-submit")
        return [submit, "--master", self.spark_master or "local[2]", "--jars", self.jars_option,
                "--conf", "spark.driver.extraJavaOptions=-Xss16m", str(app), *args]  # fmt: skip

    def env(self) -> dict[str, str]:
        """The settings (``SMARTCITY_*``) that point the product at this cluster."""
        pairs = {
            "SMARTCITY_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "SMARTCITY_SPARK_MASTER": self.spark_master,
            "SMARTCITY_REDIS_URL": self.redis_url,
            "SMARTCITY_LAKE_URI": self.lake_uri,
            "SMARTCITY_S3_ENDPOINT_URL": self.s3_endpoint_url,
        }
        if self.s3_endpoint_url:
            pairs |= {"SMARTCITY_S3_REGION": self.s3_region, "SMARTCITY_S3_ACCESS_KEY_ID": self.s3_access_key_id,
                      "SMARTCITY_S3_SECRET_ACCESS_KEY": self.s3_secret_access_key}  # fmt: skip
        return {k: v for k, v in pairs.items() if v}

    def save(self) -> None:
        data = {k: v for k, v in self.__dict__.items() if k not in ("root", "processes")}
        data["processes"] = {name: rec.to_dict() for name, rec in self.processes.items()}
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.path)

    @classmethod
    def load(cls, root: Path) -> ClusterState | None:
        path = Path(root) / "state.json"
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        records = {name: ProcessRecord.from_dict(rec) for name, rec in data.pop("processes").items()}
        return cls(root=Path(root), processes=records, **data)


class Cluster:
    """Starts and stops one native cluster rooted at ``root`` (state, logs and data live there)."""

    def __init__(
        self, root: Path, brokers: int = 1, workers: int = 2, services: tuple[str, ...] = SERVICES,
        partitions: int = 3, progress: Progress = print, redis_cluster: bool = False,
    ) -> None:  # fmt: skip
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise ClusterError(f"unknown services {sorted(unknown)}; choose from {', '.join(SERVICES)}")
        if brokers not in (1, 3):
            raise ClusterError("--brokers is 1 or 3 (three tolerate one broker down)")
        self.root = Path(root).resolve()
        self.brokers = brokers
        self.workers = workers
        self.services = services
        self.partitions = partitions
        self.progress = progress
        self.redis_cluster = redis_cluster  # Redis as a Redis Cluster of three masters

    def up(self, timeout: float = 180.0) -> ClusterState:
        """Start every service and wait until each is healthy; on failure stop what started."""
        previous = ClusterState.load(self.root)
        if previous is not None:
            if all(rec.running() for rec in previous.processes.values()):
                self.progress(f"cluster: already running (state in {previous.path})")
                return previous
            self.progress("cluster: a previous cluster is partly down; stopping what is left of it")
            self.down()
        self._clear()
        if "kafka" in self.services or "spark" in self.services:
            fetch_all(progress=self.progress)
        state = ClusterState(self.root)
        started: list[Service] = []
        try:
            self._start(state, started, time.monotonic() + timeout)
        except BaseException:
            for service in reversed(started):
                service.stop()
            raise
        for service in started:
            assert service.record is not None
            state.processes[service.name] = service.record
            state.logs[service.name] = str(service.log_path)
        state.save()
        return state

    def _clear(self) -> None:
        """Start afresh: Redis and S3 keep nothing across a restart, so neither does Kafka (and a
        new KRaft cluster id cannot reuse the old data). Only the folders ``up`` makes go."""
        if self.root.is_dir():
            for path in self.root.iterdir():
                if path.is_dir() and (
                    path.name in ("redis", "redis-cluster", "s3") or path.name.startswith(("kafka-", "spark-"))
                ):
                    shutil.rmtree(path)

    def _start(self, state: ClusterState, started: list[Service], deadline: float) -> None:
        """Launch everything at once (the JVMs take seconds each), then wait for each in turn."""

        def launch(service: S) -> S:
            service.launch()
            started.append(service)
            return service

        def wait(service: Service, what: str) -> None:
            self.progress(f"cluster: waiting for {what}")
            service.wait_ready(max(1.0, deadline - time.monotonic()))

        nodes: list[KafkaNode] = []
        if "kafka" in self.services:
            self.progress(f"cluster: formatting {self.brokers} Kafka KRaft node(s)")
            nodes = [launch(n) for n in kafka_nodes(self.root, self.brokers, self.partitions)]
        master = launch(SparkMaster(self.root)) if "spark" in self.services else None
        redis_server = None
        redis_cluster = None
        if "redis" in self.services and self.redis_cluster:
            redis_cluster = RedisClusterServer(self.root / "redis-cluster")
            for member in redis_cluster.nodes:
                launch(member)
        elif "redis" in self.services:
            redis_server = launch(RedisServer(self.root / "redis"))
        s3 = launch(S3Server(self.root / "s3")) if "s3" in self.services else None
        if redis_server is not None:
            wait(redis_server, "redis-server")
            state.redis_url = redis_server.url
        if redis_cluster is not None:
            self.progress(f"cluster: joining {len(redis_cluster.nodes)} redis-server nodes into a Redis Cluster")
            redis_cluster.wait_ready(max(1.0, deadline - time.monotonic()))
            state.redis_url = redis_cluster.url
        if s3 is not None:
            wait(s3, "the S3 API (moto_server)")
            s3.create_bucket(BUCKET)
            state.s3_endpoint_url, state.s3_bucket = s3.endpoint_url, BUCKET
        workers: list[SparkWorker] = []
        if master is not None:
            wait(master, "the Spark master to be elected")
            workers = [launch(SparkWorker(self.root, i, master)) for i in range(1, self.workers + 1)]
            state.spark_master, state.spark_ui_url, state.workers = master.url, master.webui_url, self.workers
        for node in nodes:
            wait(node, f"Kafka broker {node.node_id} on {node.bootstrap}")
        if nodes:
            state.bootstrap_servers, state.brokers = ",".join(n.bootstrap for n in nodes), len(nodes)
            self.progress(f"cluster: waiting for {len(nodes)} broker(s) to join the quorum")
            while broker_count(state.bootstrap_servers) < len(nodes):
                if time.monotonic() > deadline:
                    raise ClusterError(f"Kafka brokers did not all register; logs in {self.root}/kafka-*/")
                time.sleep(0.2)
        for worker in workers:
            wait(worker, f"{worker.name} to register with the master")

    def down(self) -> list[str]:
        """Stop the recorded processes, workers before the master; idempotent. Returns the names
        of those that were still running."""
        state = ClusterState.load(self.root)
        if state is None:
            return []
        stopped = []
        for group in ("spark-worker", "spark-master", "redis", "s3", "kafka"):
            names = [name for name in state.processes if name.startswith(group)]
            running = stop_all([state.processes[name] for name in names])
            stopped += [name for name in names if state.processes[name] in running]
        state.path.unlink(missing_ok=True)
        return stopped
