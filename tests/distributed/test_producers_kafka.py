"""`python -m producers --kafka` against the session's real Kafka broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, Message

from cluster.topology import ClusterState
from pipeline.schemas import STREAMS
from pipeline.topics import admin_client, create_topics
from producers.sinks import read_jsonl
from tests.services import free_port

pytestmark = pytest.mark.distributed
ROOT = Path(__file__).resolve().parents[2]
CITY = ["--vehicles", "40", "--sensors", "8", "--stations", "2", "--incidents-per-hour", "120", "--seed", "3"]


def producers(*args: str, topic_prefix: str = "", **popen: Any) -> subprocess.Popen[str]:
    """``python -m producers ARGS`` from the repo root, writing to topics named ``<prefix><stream>``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
    env |= {f"SMARTCITY_TOPIC_{s.upper()}": f"{topic_prefix}{s}" for s in STREAMS}
    return subprocess.Popen([sys.executable, "-m", "producers", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)  # fmt: skip


def consume(bootstrap: str, topics: list[str], at_least: int, idle_s: float = 2.0) -> list[Message]:
    """Every message on ``topics`` from the start, once ``at_least`` arrived and nothing more came."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe(topics)
    out: list[Message] = []
    idle_since = time.monotonic()
    try:
        while len(out) < at_least or time.monotonic() - idle_since < idle_s:
            batch = consumer.consume(1000, timeout=0.5)
            for msg in batch:
                if msg.error() is None:
                    out.append(msg)
                else:  # a topic the producer has not created yet is fine; anything else is not
                    assert msg.error().code() == KafkaError.UNKNOWN_TOPIC_OR_PART, msg.error()
            if batch:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 60:
                break  # nothing for a minute: let the assertions say what is missing
    finally:
        consumer.close()
    return out


def summary(stderr: str) -> dict[str, Any]:
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    result: dict[str, Any] = orjson.loads(lines[-1])
    return result


def test_every_event_reaches_kafka_keyed_by_device_id_in_order(cluster: ClusterState, tmp_path: Path) -> None:
    assert cluster.bootstrap_servers
    prefix = f"t{uuid.uuid4().hex[:6]}."
    sim = [*CITY, "--duration", "60", "--time-scale", "0", "--start", "2026-11-27T08:00:00"]
    recorded = producers(*sim, "--output", str(tmp_path / "run.jsonl"))
    assert recorded.wait(120) == 0
    expected = list(read_jsonl(tmp_path / "run.jsonl"))

    run = producers(*sim, "--kafka", cluster.bootstrap_servers, "--partitions", "4", topic_prefix=prefix)
    _, stderr = run.communicate(timeout=180)
    assert run.returncode == 0, stderr
    report = summary(stderr)["kafka"]
    assert report == {"produced": len(expected), "delivered": len(expected), "failed": 0, "errors": {}}

    topics = [f"{prefix}{s}" for s in STREAMS]
    metadata = admin_client(cluster.bootstrap_servers).list_topics(timeout=10)
    assert {t: len(metadata.topics[t].partitions) for t in topics} == dict.fromkeys(topics, 4)

    messages = consume(cluster.bootstrap_servers, topics, len(expected))
    assert len(messages) == len(expected)
    got: dict[tuple[str, str], list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
    for msg in messages:
        value = orjson.loads(msg.value())
        assert msg.key() == value["device_id"].encode()  # keyed by device: its events share a partition
        got[(msg.topic(), msg.key().decode())].append((msg.partition(), msg.offset(), value))
    want: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for stream, key, event in expected:
        want[(f"{prefix}{stream}", key)].append(event)
    assert got.keys() == want.keys()
    for device, events in got.items():
        assert len({partition for partition, _, _ in events}) == 1
        assert [value for _, _, value in sorted(events)] == want[device]  # in the order produced


def test_sigterm_flushes_what_was_produced(cluster: ClusterState) -> None:
    assert cluster.bootstrap_servers
    prefix = f"t{uuid.uuid4().hex[:6]}."
    run = producers(*CITY, "--kafka", cluster.bootstrap_servers, topic_prefix=prefix)  # real time, no end
    try:
        consume(cluster.bootstrap_servers, [f"{prefix}gps_data"], at_least=1, idle_s=0)
    finally:
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    report = summary(stderr)["kafka"]
    assert report["failed"] == 0 and report["delivered"] == report["produced"] > 0
    topics = [f"{prefix}{s}" for s in STREAMS]
    assert len(consume(cluster.bootstrap_servers, topics, report["delivered"])) == report["delivered"]


def test_topics_are_created_once_with_the_partitions_asked(cluster: ClusterState) -> None:
    assert cluster.bootstrap_servers
    names = [f"t{uuid.uuid4().hex[:6]}.a", f"t{uuid.uuid4().hex[:6]}.b"]
    assert create_topics(cluster.bootstrap_servers, names, partitions=2) == names
    assert create_topics(cluster.bootstrap_servers, names, partitions=5) == []  # idempotent: left as they are
    topics = admin_client(cluster.bootstrap_servers).list_topics(timeout=10).topics
    assert [len(topics[n].partitions) for n in names] == [2, 2]
    assert {len(p.replicas) for n in names for p in topics[n].partitions.values()} == {1}


def test_an_unreachable_broker_is_a_clear_error() -> None:
    address = f"127.0.0.1:{free_port()}"
    run = producers("--kafka", address, "--duration", "5")
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 2
    assert f"cannot reach Kafka at {address}" in stderr
    assert "Traceback" not in stderr
