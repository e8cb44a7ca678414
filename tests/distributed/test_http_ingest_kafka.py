"""With Kafka configured, the server's HTTP ingest and resolutions go to Kafka, like any producer's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import orjson
import pytest

from app import create_app
from app.ingest import KafkaIngest
from app.store import Store
from cluster.topology import ClusterState
from pipeline.schemas import STREAMS
from pipeline.speed_layer import SpeedLayer
from pipeline.topics import create_topics
from tests.city import NOW, api_settings, seed
from tests.distributed.test_producers_kafka import consume
from tests.services import native_cluster

pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterState]:
    """One Kafka broker alone: this needs no Spark, Redis or S3."""
    with native_cluster(tmp_path_factory.mktemp("kafka-ingest"), "--only", "kafka") as state:
        yield state


def test_ingested_events_and_resolutions_reach_their_topics_keyed_by_device(
    kafka: ClusterState, tmp_path: Path
) -> None:
    assert kafka.bootstrap_servers
    prefix = f"t{uuid.uuid4().hex[:6]}."
    topics = {f"topic_{s}": f"{prefix}{s}" for s in STREAMS}
    create_topics(kafka.bootstrap_servers, topics.values(), partitions=3)
    speed = SpeedLayer(fakeredis.FakeRedis(), "ki:")
    seed(speed)
    settings = api_settings(tmp_path, kafka_bootstrap_servers=kafka.bootstrap_servers, **topics)
    app = create_app(settings, store=Store(speed))
    assert isinstance(app.extensions["smartcity.ingest"], KafkaIngest)
    client = app.test_client()

    events = [{"device_id": f"gps-{i}", "timestamp": NOW.isoformat(), "location": [52.44, 13.52], "speed": 10.0 + i}
              for i in range(5)]  # fmt: skip
    resp = client.post("/api/ingest/gps_data", json=events, headers={"Authorization": "Bearer ingest-token"})
    assert resp.status_code == 202 and resp.json == {"accepted": 5}  # 202 once Kafka acknowledged them
    resolve = client.post("/api/emergency/incidents/i-1/resolve", headers={"Authorization": "Bearer operator-token"})
    assert resolve.status_code == 202

    got = consume(kafka.bootstrap_servers, [topics["topic_gps_data"], topics["topic_emergency_data"]], at_least=6)
    gps = [m for m in got if m.topic() == topics["topic_gps_data"]]
    assert sorted((m.key(), orjson.loads(m.value())["speed"]) for m in gps) == [
        (f"gps-{i}".encode(), 10.0 + i) for i in range(5)
    ]
    (resolution,) = [orjson.loads(m.value()) for m in got if m.topic() == topics["topic_emergency_data"]]
    assert resolution["incidentId"] == "i-1" and resolution["status"] == "Resolved"
    # the Spark job, not this server, processes them: nothing written here
    assert client.get("/api/vehicles/gps-0", headers={"Authorization": "Bearer viewer-token"}).status_code == 404
    assert not list((tmp_path / "lake").rglob("*.parquet"))
    app.extensions["smartcity.ingest"].close()
