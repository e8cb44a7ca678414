"""``python -m producers.mqtt``: devices on a real mosquitto bridged to the cluster's Kafka.

Every message the broker acknowledged to a device ends up on its stream's Kafka topic, keyed by
the device the MQTT topic names; one naming no stream goes to a topic nobody reads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from cluster.topology import ClusterState
from pipeline.mqtt import UNROUTED_TOPIC
from tests.demo import Lines
from tests.distributed.test_producers_kafka import consume
from tests.mqtt import Publisher, wait_for
from tests.services import MosquittoServer

pytestmark = pytest.mark.distributed
ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 300


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with MosquittoServer(tmp_path / "mosquitto") as server:
        yield server


def test_acknowledged_messages_reach_kafka_keyed_by_device(cluster: ClusterState, broker: MosquittoServer) -> None:
    assert cluster.bootstrap_servers
    run = f"mq{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")} | {
        "SMARTCITY_MQTT_URL": broker.url, "SMARTCITY_MQTT_TOPIC_PREFIX": run, "SMARTCITY_MQTT_CLIENT_ID": run,
        "SMARTCITY_TOPIC_GPS_DATA": f"{run}_gps_data", "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    bridge = subprocess.Popen(
        [sys.executable, "-m", "producers.mqtt", "--kafka", cluster.bootstrap_servers], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert bridge.stderr is not None
    log = Lines(bridge.stderr)
    publisher = Publisher(broker.port, f"{run}-device")
    try:
        # a broker keeps nothing for a topic no session subscribes to yet: wait for the bridge's
        assert log.first("connected", timeout=60) is not None, log.text()
        time.sleep(1)  # its SUBSCRIBE follows the CONNACK
        for i in range(MESSAGES):
            event = {"id": f"{run}-{i}", "device_id": f"car-{i % 7}", "timestamp": datetime.now(UTC).isoformat(),
                     "location": [52.44, 13.52], "speed": 30.0}  # fmt: skip
            publisher.publish(f"{run}/gps_data/car-{i % 7}", orjson.dumps(event), event["id"])
        publisher.publish(f"{run}/no_such_stream/x", b"{}", "unrouted")
        wait_for(lambda: publisher.pending == 0, 60, "the broker acknowledged every message")
        on_kafka = consume(cluster.bootstrap_servers, [f"{run}_gps_data"], MESSAGES)
        unrouted = [m for m in consume(cluster.bootstrap_servers, [UNROUTED_TOPIC], 1)
                    if (m.key() or b"").startswith(run.encode())]  # fmt: skip
    finally:
        publisher.close()
        if bridge.poll() is None:
            os.killpg(bridge.pid, signal.SIGTERM)
        bridge.wait(60)
        log.join()
    stderr = log.text()
    assert bridge.returncode == 0, stderr[-3000:]
    ids = Counter(orjson.loads(m.value())["id"] for m in on_kafka)
    assert set(ids) == publisher.acked - {"unrouted"}  # every acknowledged one; duplicates only if redelivered
    assert all(m.key() == f"car-{int(orjson.loads(m.value())['id'].rsplit('-', 1)[1]) % 7}".encode()
               for m in on_kafka)  # fmt: skip
    assert len(unrouted) == 1 and json.loads(unrouted[0].value())["mqtt_topic"] == f"{run}/no_such_stream/x"
    summary = json.loads(stderr.strip().splitlines()[-1])
    assert summary["acknowledged"] >= MESSAGES + 1 and summary["delivered"] >= MESSAGES + 1
