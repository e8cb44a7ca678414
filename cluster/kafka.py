"""Apache Kafka brokers in KRaft mode (combined broker + controller), from the Maven jars.

One node, or three forming one quorum with replication factor 3 and ``min.insync.replicas=2``
(a produce with ``acks=all`` still succeeds with one broker down).
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from cluster.exceptions import ClusterError
from cluster.jars import java, kafka_classpath
from cluster.services import HOST, Service, free_port, port_open

LOG4J = """\
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
"""


def new_cluster_id() -> str:
    """A KRaft cluster id, as ``kafka-storage random-uuid`` makes them (base64url, 16 random
    bytes), and like Kafka's own never one that starts with "-": ``kafka-storage format -t``
    would take it for an option (1 draw in 64; seen failing ``cluster up``)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaNode(Service):
    """One KRaft node of a cluster of ``len(voters)`` nodes; ``voters`` maps node id -> controller port."""

    def __init__(
        self, workdir: Path, node_id: int, voters: dict[int, int], cluster_id: str,
        partitions: int = 3, port: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(workdir / f"kafka-{node_id}", port)
        self.name = f"kafka-{node_id}"
        self.node_id = node_id
        self.voters = voters
        self.cluster_id = cluster_id
        self.partitions = partitions
        self.marker = str(self.workdir / "server.properties")

    @property
    def controller_port(self) -> int:
        return self.voters[self.node_id]

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def properties(self) -> str:
        replicas = len(self.voters)
        min_isr = min(2, replicas)
        voters = ",".join(f"{node}@{HOST}:{port}" for node, port in sorted(self.voters.items()))
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={self.node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.workdir / 'data'}",
            f"num.partitions={self.partitions}",
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={min_isr}",
            f"offsets.topic.replication.factor={replicas}",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={min_isr}",
            f"share.coordinator.state.topic.replication.factor={replicas}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "group.initial.rebalance.delay.ms=0",
            "",
        ])  # fmt: skip

    def _java(self, main: str, *args: str) -> list[str]:
        return [java(), "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
                "-cp", kafka_classpath(), main, *args]  # fmt: skip

    def format_command(self) -> list[str]:
        """``kafka-storage format``: writes the cluster id and bootstrap metadata to ``log.dirs``."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "server.properties").write_text(self.properties())
        (self.workdir / "log4j2.properties").write_text(LOG4J)
        return self._java("kafka.tools.StorageTool", "format", "-t", self.cluster_id,
                          "-c", str(self.workdir / "server.properties"), "--ignore-formatted")  # fmt: skip

    def command(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.workdir / "server.properties"))

    def ready(self) -> bool:
        return port_open(self.port)


def kafka_nodes(workdir: Path, count: int, partitions: int = 3) -> list[KafkaNode]:
    """``count`` nodes of one new cluster, their storage formatted (in parallel: a JVM each)."""
    voters = {node: free_port() for node in range(1, count + 1)}
    cluster_id = new_cluster_id()
    nodes = [KafkaNode(workdir, node, voters, cluster_id, partitions) for node in voters]
    runs = [(node, subprocess.Popen(node.format_command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            for node in nodes]  # fmt: skip
    for node, run in runs:
        out, _ = run.communicate(timeout=120)
        if run.returncode != 0:
            tail = "\n".join(out.decode(errors="replace").splitlines()[-12:])
            raise ClusterError(f"formatting {node.name}'s storage failed:\n{tail}")
    return nodes
