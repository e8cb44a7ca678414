"""The three-broker variant (`scripts/cluster up --brokers 3`): RF 3, min ISR 2, one broker may die."""

from __future__ import annotations

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


def test_acks_all_still_succeeds_with_one_broker_stopped(kafka3: ClusterState) -> None:
    assert kafka3.bootstrap_servers
    topic = f"t{uuid.uuid4().hex[:6]}.orders"
    create_topics(kafka3.bootstrap_servers, [topic], partitions=3)
    leader = admin_client(kafka3.bootstrap_servers).list_topics(timeout=10).topics[topic].partitions[0].leader
    assert kafka3.processes[f"kafka-{leader}"].stop()  # the leader of partition 0 goes away

    sink = KafkaSink(kafka3.bootstrap_servers, {"orders": topic}, delivery_timeout_s=60)
    sink.send([("orders", f"dev-{i % 7}", {"device_id": f"dev-{i % 7}", "n": i}) for i in range(300)])
    sink.close(timeout=90)
    assert (sink.stats.delivered, sink.stats.failed) == (300, 0)
    assert len(consume(kafka3.bootstrap_servers, [topic], 300)) == 300
