"""A Spark standalone cluster (master + workers) started from the pyspark install.

The pyspark wheel has ``bin/spark-class`` but no ``sbin/start-*.sh``, so each daemon is
``spark-class org.apache.spark.deploy.{master.Master,worker.Worker} …``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from cluster.exceptions import ClusterError
from cluster.jars import java
from cluster.services import HOST, Service, free_port


def spark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise ClusterError("pyspark is not installed: bash scripts/setup.sh requirements-dev.txt")
    return Path(spec.origin).parent


def spark_env() -> dict[str, str]:
    """Environment of the daemons (and of a driver): loopback only, executors run our venv's Python."""
    home = spark_home()
    return {
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": HOST,
        "PYSPARK_PYTHON": sys.executable,
        "JAVA_HOME": str(Path(java()).resolve().parents[1]),
    }


def master_json(webui_url: str) -> dict[str, Any]:
    """The master's status page as JSON (``status``, ``workers``, ``activeapps``, ``completedapps`` …)."""
    with urllib.request.urlopen(f"{webui_url}/json/", timeout=2) as resp:
        data: dict[str, Any] = json.load(resp)
    return data


class SparkDaemon(Service):
    main_class = ""

    def command(self) -> list[str]:
        return [str(spark_home() / "bin" / "spark-class"), self.main_class, *self.arguments()]

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return spark_env()


class SparkMaster(SparkDaemon):
    name = "spark-master"
    main_class = "org.apache.spark.deploy.master.Master"

    def __init__(self, workdir: Path, port: int | None = None, webui_port: int | None = None) -> None:
        super().__init__(workdir / "spark-master", port)
        self.webui_port = webui_port or free_port()
        self.marker = f"{self.main_class} --host {HOST} --port {self.port}"

    @property
    def url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    @property
    def webui_url(self) -> str:
        return f"http://{HOST}:{self.webui_port}"

    def arguments(self) -> list[str]:
        return ["--host", HOST, "--port", str(self.port), "--webui-port", str(self.webui_port)]

    def ready(self) -> bool:
        """Elected and accepting workers: a worker that registers earlier is ignored and retries
        only after 5-15 s, so workers are launched after this."""
        try:
            return master_json(self.webui_url).get("status") == "ALIVE"
        except (OSError, ValueError):  # not up yet, or (while it starts) an empty or half page
            return False


class SparkWorker(SparkDaemon):
    main_class = "org.apache.spark.deploy.worker.Worker"

    def __init__(self, workdir: Path, index: int, master: SparkMaster, cores: int = 1, memory: str = "1g") -> None:
        super().__init__(workdir / f"spark-worker-{index}")
        self.name = f"spark-worker-{index}"
        self.master = master
        self.cores = cores
        self.memory = memory
        self.webui_port = free_port()
        self.marker = f"{self.main_class} {master.url} --host {HOST} --port {self.port}"

    def arguments(self) -> list[str]:
        return [self.master.url, "--host", HOST, "--port", str(self.port), "--webui-port", str(self.webui_port),
                "--cores", str(self.cores), "--memory", self.memory,
                "--work-dir", str(self.workdir / "work")]  # fmt: skip

    def ready(self) -> bool:
        try:
            workers = master_json(self.master.webui_url).get("workers", [])
        except (OSError, ValueError):
            return False
        return any(w.get("port") == self.port and w.get("state") == "ALIVE" for w in workers)
