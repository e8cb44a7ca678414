"""The three-broker variant (`scripts/cluster up --brokers 3`): RF 3, min ISR 2, one broker may die."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import ConfigResource

from cluster.topology import ClusterState
from pipeline.topics import admin_client, create_topics
from producers.kafka import KafkaSink
from tests.distributed.test_producers_kafka import consume
from tests.services import native_cluster

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def kafka3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterState]:
    with native_cluster(tmp_path_factory.mktemp("kafka3"), "--brokers", "3", "--only", "kafka") as state:
        yield state


def test_the_stream_topics_have_three_replicas_and_need_two_in_sync(kafka3: ClusterState) -> None:
    assert kafka3.bootstrap_servers and kafka3.brokers == 3
    admin = admin_client(kafka3.bootstrap_servers)
    topic = admin.list_topics(timeout=10).topics["vehicle_data"]
    assert {len(p.replicas) for p in topic.partitions.values()} == {3}
    resource = ConfigResource(ConfigResource.Type.TOPIC, "vehicle_data")
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["min.insync.replicas"].value == "2"


def partition_leader(bootstrap_servers: str, topic: str, partition: int, timeout: float = 30.0) -> int:
    """The partition's leader as a new client sees it: the broker it asks may learn of a new
    topic a moment after the one that answered create_topics did."""
    admin, deadline = admin_client(bootstrap_servers), time.monotonic() + timeout
    while True:
        found = admin.list_topics(timeout=10).topics.get(topic)
        if found is not None and partition in found.partitions and found.partitions[partition].leader >= 0:
            return int(found.partitions[partition].leader)
        assert time.monotonic() < deadline, f"{topic} has no leader for partition {partition} in a new client's view"
        time.sleep(0.1)


def test_acks_all_still_succeeds_with_one_broker_stopped(kafka3: ClusterState) -> None:
    assert kafka3.bootstrap_servers
    topic = f"t{uuid.uuid4().hex[:6]}.orders"
    create_topics(kafka3.bootstrap_servers, [topic], partitions=3)
    leader = partition_leader(kafka3.bootstrap_servers, topic, 0)
    assert kafka3.processes[f"kafka-{leader}"].stop()  # the leader of partition 0 goes away

    sink = KafkaSink(kafka3.bootstrap_servers, {"orders": topic}, delivery_timeout_s=60)
    sink.send([("orders", f"dev-{i % 7}", {"device_id": f"dev-{i % 7}", "n": i}) for i in range(300)])
    sink.close(timeout=90)
    assert (sink.stats.delivered, sink.stats.failed) == (300, 0)
    assert len(consume(kafka3.bootstrap_servers, [topic], 300)) == 300
