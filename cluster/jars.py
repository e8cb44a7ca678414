"""Jars from Maven Central, fetched once with ``mvn`` and cached under ``.cache/jars/<set>/``.

Each set is a small pom under ``scripts/jars/<set>/``: ``kafka`` (the broker and its tools) and
``spark`` (what a Spark job needs beyond the pyspark wheel: the Kafka source and S3A). A stamp
named after the pom's hash makes a rerun instant; editing a pom fetches again. Jars are
hard-linked from the local Maven repository where possible (the AWS SDK bundle is ~690 MB).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from cluster.exceptions import ClusterError

ROOT = Path(__file__).resolve().parents[1]
POMS = ROOT / "scripts" / "jars"
CACHE = ROOT / ".cache" / "jars"
JAR_SETS = ("kafka", "spark")


def _stamp(name: str) -> str:
    return ".fetched-" + hashlib.sha1((POMS / name / "pom.xml").read_bytes()).hexdigest()[:12]


def fetched(name: str, cache: Path = CACHE) -> bool:
    return (cache / name / _stamp(name)).exists()


def fetch(name: str, cache: Path = CACHE, progress: Callable[[str], None] = print) -> Path:
    """The folder holding jar set ``name``, fetching it with ``mvn`` the first time."""
    target = cache / name
    if fetched(name, cache):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ClusterError("mvn is not installed: run `make test` (it installs maven with apt)")
    progress(f"cluster: fetching the {name} jars from Maven Central with mvn (first run only)")
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "classpath.txt"
        cmd = [mvn, "-q", "-B", "-f", str(POMS / name / "pom.xml"), "dependency:build-classpath",
               f"-Dmdep.outputFile={listing}", "-Dmdep.includeScope=runtime"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise ClusterError(f"mvn could not fetch the {name} jars:\n{(done.stdout + done.stderr)[-3000:]}")
        jars = [Path(p) for p in listing.read_text().strip().split(os.pathsep) if p]
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for jar in jars:
        try:
            os.link(jar, target / jar.name)
        except OSError:  # another filesystem
            shutil.copy2(jar, target / jar.name)
    (target / _stamp(name)).touch()
    return target


def fetch_all(cache: Path = CACHE, progress: Callable[[str], None] = print) -> None:
    for name in JAR_SETS:
        fetch(name, cache, progress)


def _jars(name: str, cache: Path) -> list[Path]:
    if not fetched(name, cache):
        raise ClusterError(f"the {name} jars are not fetched yet: run `scripts/cluster jars` (needs mvn)")
    return sorted((cache / name).glob("*.jar"))


def kafka_classpath(cache: Path = CACHE) -> str:
    """``java -cp`` value for the Kafka broker and tools (kafka.Kafka, kafka.tools.StorageTool,
    org.apache.kafka.tools.ProducerPerformance …)."""
    _jars("kafka", cache)
    return str(cache / "kafka" / "*")


def spark_jars(cache: Path = CACHE) -> list[Path]:
    """The jars a Spark job adds (``--jars`` / ``spark.jars``): the Kafka source
    (spark-sql-kafka-0-10 4.2.0, kafka-clients, commons-pool2) and S3A (hadoop-aws 3.5.0 and the
    AWS SDK bundle). On one machine pass them as ``local:`` URIs (:func:`spark_jars_option`), so
    executors read them in place instead of each copying ~700 MB."""
    return _jars("spark", cache)


def spark_jars_option(cache: Path = CACHE, local: bool = True) -> str:
    """:func:`spark_jars` as the comma-separated value of ``--jars`` / ``spark.jars``."""
    return ",".join(f"local://{jar}" if local else str(jar) for jar in spark_jars(cache))


def java() -> str:
    """The ``java`` binary (JAVA_HOME first, as Spark's scripts do)."""
    home = os.environ.get("JAVA_HOME")
    binary = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not binary or not Path(binary).exists():
        raise ClusterError("java is not installed: run `make test` (it installs default-jre-headless with apt)")
    return binary
