"""The distributed mode end to end: producers -> Kafka -> the Spark job (2 workers) -> Redis + S3.

One simulated city is produced into topics of this module's own, plus bad events written
straight to Kafka. Three runs read the same topics, each into its own key prefix and lake:

- ``uninterrupted``: ``python -m pipeline.spark_job`` from start to end;
- ``restarted``: the same job, killed (SIGKILL) in the middle of a micro-batch, then started again;
- ``embedded``: the same records through the embedded ``BatchProcessor`` in this process.

The tests compare them: API and lake against what was produced, and the runs against each other.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pyarrow as pa
import pytest
from confluent_kafka import Consumer, Producer
from flask.testing import FlaskClient
from pyarrow import fs as pafs
from pydantic import SecretStr

from app import create_app
from app.store import Store
from cluster.topology import ClusterState
from pipeline import runtime
from pipeline.lake import DEADLETTER, LakeWriter, open_lake, read_table
from pipeline.processor import BatchProcessor, RawEvent
from pipeline.schemas import STREAMS
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from pipeline.topics import create_topics
from pipeline.validation import Validator
from tests import city
from tests.city import TOKENS, USERS
from tests.services import Forwarder, RedisServer, Service
from tests.unit import test_poison_ids as poison

pytestmark = pytest.mark.distributed
ROOT = Path(__file__).resolve().parents[2]
PRODUCERS = [sys.executable, "-m", "producers"]
CITY = ["--vehicles", "60", "--sensors", "8", "--stations", "2", "--incidents-per-hour", "240", "--seed", "5"]
SECONDS = 90
BAD: list[tuple[str, bytes]] = [  # what the embedded tests inject, and faults only a Kafka client can send
    *city.BAD,
    ("traffic_data", b'{"device_id": "cam", "camera_id": "c", "timestamp": "2026-01-01T00:00:00", "location": [52, 13],'
                     b' "speed": NaN}'),
    ("gps_data", b'{"device_id": "car-x", "timestamp": "2026-01-01T00:00:00", "location": [52.4, 13.5], "speed": "9"}'),
    ("emergency_data", b'{"device_id": "u", "description": "' + b"x" * 70_000 + b'"}'),
]  # fmt: skip


POISONED = [(stream, i) for stream in poison.ID_FIELD for i in poison.ids_for(stream)]


@dataclass
class Topics:
    """The module's topics, every record on them (in partition order), and what is valid."""

    prefix: str
    records: list[tuple[str, int, int, bytes]]  # topic, partition, offset, value
    valid_ids: dict[str, set[str]]

    def topic(self, stream: str) -> str:
        return f"{self.prefix}{stream}"

    def stream(self, topic: str) -> str:
        return topic[len(self.prefix) :]

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.prefix}dead_letters"


@dataclass
class Run:
    """Where one run put its speed layer and lake."""

    name: str
    speed: SpeedLayer
    filesystem: pafs.FileSystem
    root: str
    settings: Settings
    log: Path | None = None
    health_while_running: dict[str, Any] | None = None  # GET /api/health, job caught up and running
    system_after_stop: dict[str, Any] | None = None  # GET /api/system right after the job stopped

    def table(self, name: str) -> pa.Table:
        return read_table(self.filesystem, self.root, name)


def consume_all(bootstrap: str, topics: list[str], expected: int) -> list[tuple[str, int, int, bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe(topics)
    out: list[tuple[str, int, int, bytes]] = []
    deadline = time.monotonic() + 120
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error() is None:
                    out.append((msg.topic(), msg.partition(), msg.offset(), msg.value() or b""))
    finally:
        consumer.close()
    return out


@pytest.fixture(scope="module")
def topics(cluster: ClusterState) -> Topics:
    """A city produced by ``python -m producers --kafka`` (3 partitions a topic), plus BAD."""
    prefix = f"sj{uuid.uuid4().hex[:6]}_"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
    env |= {f"SMARTCITY_TOPIC_{s.upper()}": f"{prefix}{s}" for s in STREAMS}
    done = subprocess.run(
        [*PRODUCERS, "--kafka", cluster.bootstrap_servers, "--partitions", "3",
         "--duration", str(SECONDS), "--time-scale", "0", *CITY],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert cluster.bootstrap_servers
    create_topics(cluster.bootstrap_servers, [f"{prefix}dead_letters"], 1)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "message.max.bytes": 1_000_000})
    for stream, value in BAD:  # any client, no key: whatever partition Kafka picks
        producer.produce(f"{prefix}{stream}", value=value)
    for stream, entity_id in POISONED:  # ids shaped like the speed layer's keys, random message keys
        producer.produce(
            f"{prefix}{stream}", key=uuid.uuid4().bytes, value=orjson.dumps(poison.event(stream, entity_id))
        )
    assert producer.flush(30) == 0
    summary = next(line for line in reversed(done.stderr.splitlines()) if line.startswith("{"))
    produced = orjson.loads(summary)["events"] + len(POISONED)
    records = consume_all(cluster.bootstrap_servers, [f"{prefix}{s}" for s in STREAMS], produced + len(BAD))
    assert len(records) == produced + len(BAD)
    validator = Validator()
    valid_ids: dict[str, set[str]] = {s: set() for s in STREAMS}
    for topic, _, _, value in records:
        out = validator.validate(topic[len(prefix) :], value)
        if isinstance(out, dict):
            valid_ids[topic[len(prefix) :]].add(out["event_id"])
    assert sum(map(len, valid_ids.values())) == produced, "every produced event is valid and has its own id"
    return Topics(prefix, records, valid_ids)


def settings_for(cluster: ClusterState, topics: Topics, run: str, **overrides: str) -> dict[str, str]:
    """The job's environment: the cluster, this module's topics, the run's own prefix and lake."""
    base = f"s3://{cluster.s3_bucket}/{topics.prefix}{run}"
    env = cluster.env() | {f"SMARTCITY_TOPIC_{s.upper()}": topics.topic(s) for s in STREAMS}
    env |= {"SMARTCITY_REDIS_PREFIX": f"{topics.prefix}{run}:", "SMARTCITY_LAKE_URI": f"{base}/lake",
            "SMARTCITY_SPARK_CHECKPOINT_URI": f"{base}/checkpoint",
            "SMARTCITY_SPARK_TRIGGER_SECONDS": "0.5"}  # fmt: skip
    return env | overrides


def run_of(name: str, env: dict[str, str], log: Path | None = None) -> Run:
    names = {k[len("SMARTCITY_") :].lower(): v for k, v in env.items() if k.startswith("SMARTCITY_")}
    settings = Settings(_env_file=None, **names)  # type: ignore[arg-type]
    from pipeline import runtime

    fs, root = open_lake(settings.lake_uri, runtime.s3_options(settings))
    return Run(name, runtime.speed_layer(settings, runtime.redis_client(settings)), fs, root, settings, log)


class SparkJob:
    """``python -m pipeline.spark_job`` as a child in its own session, stopped by PID."""

    def __init__(self, cluster: ClusterState, env: dict[str, str], log: Path) -> None:
        full = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")} | cluster.spark_env() | env
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline.spark_job", "--jars", cluster.jars_option],
                cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.log = log

    def kill(self) -> None:
        """SIGKILL: a crash. The driver JVM dies with it (the submitter arms PR_SET_PDEATHSIG)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc.poll() is None


def wait_for(condition: Callable[[], bool], what: str, job: SparkJob | None = None, timeout: float = 900) -> None:
    # a guard, not a figure: on a shared 2-core machine (load 20-30) the job's first batch alone
    # (executor JVMs, Python workers, code generation) took over 5 minutes
    deadline = time.monotonic() + timeout
    while not condition():
        if job is not None and not job.alive():
            pytest.fail(f"the Spark job exited while waiting for {what}:\n{job.log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            tail = job.log.read_text()[-4000:] if job else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.2)


def lake_rows(run: Run) -> int:
    return sum(run.table(s).num_rows for s in (*STREAMS, DEADLETTER))


def complete(run: Run, topics: Topics) -> Callable[[], bool]:
    expected = sum(map(len, topics.valid_ids.values())) + len(BAD)
    return lambda: lake_rows(run) >= expected


@pytest.fixture(scope="module")
def uninterrupted(cluster: ClusterState, topics: Topics, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    env = settings_for(cluster, topics, "full", SMARTCITY_DEAD_LETTER_TOPIC=topics.dead_letter_topic)
    run = run_of("uninterrupted", env, tmp_path_factory.mktemp("spark") / "uninterrupted.log")
    assert run.log is not None
    job = SparkJob(cluster, env, run.log)
    try:
        wait_for(complete(run, topics), "every record in the lake", job)
        time.sleep(2)  # a duplicate would land now, if the job wrote one
        run.health_while_running = console(run).get("/api/health").json
    finally:
        assert job.stop() == 0, run.log.read_text()[-4000:]
    run.system_after_stop = console(run).get("/api/system", headers={"Authorization": "Bearer viewer-token"}).json
    yield run


def checkpoint_batches(run: Run, kind: str) -> set[int]:
    base = run.settings.spark_checkpoint_uri[len("s3://") :] + f"/{kind}"
    infos = run.filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    return {int(i.base_name) for i in infos if i.base_name.isdigit()}


@pytest.fixture(scope="module")
def restarted(cluster: ClusterState, topics: Topics, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Small micro-batches; SIGKILL once a batch is planned (offsets logged) but not committed."""
    env = settings_for(cluster, topics, "restart", SMARTCITY_SPARK_MAX_OFFSETS_PER_TRIGGER="1500")
    run = run_of("restarted", env, tmp_path_factory.mktemp("spark") / "restarted.log")
    assert run.log is not None
    job = SparkJob(cluster, env, run.log)

    def mid_batch() -> bool:
        planned, committed = checkpoint_batches(run, "offsets"), checkpoint_batches(run, "commits")
        return len(committed) >= 2 and bool(planned - committed)

    try:
        wait_for(mid_batch, "a micro-batch in flight", job)
    finally:
        job.kill()
    run.rows_at_fault = lake_rows(run)  # type: ignore[attr-defined]
    job = SparkJob(cluster, env, run.log)
    try:
        wait_for(complete(run, topics), "every record in the lake after the restart", job)
        time.sleep(2)
    finally:
        assert job.stop() == 0, run.log.read_text()[-4000:]
    yield run


def through_an_outage(
    cluster: ClusterState, topics: Topics, name: str, env: dict[str, str], log: Path, server: Service
) -> Run:
    """A run in small micro-batches whose ``server`` is SIGKILLed once two batches are committed
    and started again on the same port 20 s later; the job must live through it and finish."""
    env = env | {"SMARTCITY_SPARK_MAX_OFFSETS_PER_TRIGGER": "1500"}
    run = run_of(name, env, log)
    job = SparkJob(cluster, env, log)
    try:
        wait_for(lambda: len(checkpoint_batches(run, "commits")) >= 2, "two committed micro-batches", job)
        run.rows_at_fault = lake_rows(run)  # type: ignore[attr-defined]
        server.kill()
        time.sleep(20)
        assert job.alive(), log.read_text()[-4000:]
        server.start()
        wait_for(complete(run, topics), f"every record in the lake after {server.name} came back", job)
        time.sleep(2)
    finally:
        assert job.stop() == 0, log.read_text()[-4000:]
    return run


@pytest.fixture(scope="module")
def redis_outage(topics: Topics, cluster: ClusterState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """A Redis of the run's own (append-only file, as production) away for 20 s mid-stream."""
    work = tmp_path_factory.mktemp("spark-redis-outage")
    with RedisServer(work / "redis", persist=True) as own:
        env = settings_for(cluster, topics, "outage", SMARTCITY_REDIS_URL=own.url)
        run = through_an_outage(cluster, topics, "Redis outage", env, work / "job.log", own)
        run.final_state = state(run)  # type: ignore[attr-defined]
    yield run


@pytest.fixture(scope="module")
def s3_outage(topics: Topics, cluster: ClusterState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """An S3 endpoint of the run's own (a forwarder to the cluster's S3: the lake and the
    checkpoint) away for 20 s mid-stream."""
    work = tmp_path_factory.mktemp("spark-s3-outage")
    assert cluster.s3_endpoint_url
    with Forwarder(work / "s3-endpoint", int(cluster.s3_endpoint_url.rsplit(":", 1)[1])) as endpoint:
        env = settings_for(cluster, topics, "s3outage", SMARTCITY_S3_ENDPOINT_URL=f"http://127.0.0.1:{endpoint.port}")
        yield through_an_outage(cluster, topics, "S3 outage", env, work / "job.log", endpoint)


@pytest.fixture(scope="module")
def embedded(cluster: ClusterState, topics: Topics) -> Run:
    """The same Kafka records through the embedded processor, in partition order."""
    run = run_of("embedded", settings_for(cluster, topics, "embedded"))
    batch = BatchProcessor(run.speed, LakeWriter(run.filesystem, run.root), runtime.validator(run.settings))
    events = [RawEvent(topics.stream(t), v, f"kafka:{t}/{p}@{o}") for t, p, o, v in topics.records]
    for start in range(0, len(events), 2000):
        batch.process(events[start : start + 2000])
    batch.flush_lake(force=True)
    return run


# -- what the tests compare ----------------------------------------------------------------------


def rows_by_id(run: Run, stream: str) -> dict[str, dict[str, Any]]:
    rows = run.table(stream).drop_columns(["ingest_time"]).to_pylist()  # ingest time is when, not what
    by_id = {r["event_id"]: r for r in rows}
    assert len(by_id) == len(rows), f"{run.name}: duplicate {stream} rows in the lake"
    return by_id


def dead_letters(run: Run) -> Counter[tuple[str, str, str]]:
    """Dead letters by stream, reason and payload (a reason may quote the clock: not compared)."""
    letters = run.table(DEADLETTER).to_pylist()
    return Counter((d["stream"], re.sub(r" \(now [^)]*\)", "", d["reason"]), d["raw"]) for d in letters)


def state(run: Run) -> dict[str, Any]:
    """The speed layer, without ``src``: which of a vehicle's two same-instant reports (telemetry
    and GPS, on different topics) was applied last depends on scheduling, by design."""
    snap = run.speed.snapshot()
    for vehicle in snap["vehicles"].values():
        vehicle.pop("src", None)
    return snap


# -- the tests ------------------------------------------------------------------------------------


def console(run: Run) -> FlaskClient:
    """The console alone on the job's Redis and S3 lake (as gunicorn runs it), with the test tokens."""
    settings = run.settings.model_copy(update={"api_tokens": SecretStr(TOKENS), "users": SecretStr(USERS)})
    app = create_app(settings)
    assert isinstance(app.extensions["smartcity.store"], Store)
    return app.test_client()


def test_the_api_serves_the_simulated_vehicles_from_redis_and_history_from_s3(
    uninterrupted: Run, topics: Topics
) -> None:
    client = console(uninterrupted)
    auth = {"Authorization": "Bearer viewer-token"}
    body = client.get("/api/vehicles/locations?limit=20000", headers=auth).json
    simulated = {orjson.loads(v)["device_id"] for t, _, _, v in topics.records
                 if topics.stream(t) == "vehicle_data" and v.startswith(b'{"id"')}  # fmt: skip
    poisoned = {i for stream, i in POISONED if stream == "vehicle_data"}
    assert {v["id"] for v in body["vehicles"]} == simulated | poisoned
    traffic = client.get("/api/history/traffic", headers=auth).json
    assert sum(r["reports"] for r in traffic["rows"]) == len(topics.valid_ids["traffic_data"])


def test_the_poison_corpus_through_kafka_and_spark_is_just_ids(uninterrupted: Run) -> None:
    client = console(uninterrupted)
    auth = {"Authorization": "Bearer viewer-token"}
    for path in poison.READS:
        assert client.get(path, headers=auth).status_code == 200, path
    for stream, entity_id in POISONED:
        if stream == "vehicle_data":
            vehicle = client.get(f"/api/vehicles/{quote(entity_id, safe='')}", headers=auth)
            assert vehicle.status_code == 200 and vehicle.json["id"] == entity_id, entity_id
    incidents = client.get("/api/emergency/incidents?limit=5000", headers=auth).json["incidents"]
    assert {i for s, i in POISONED if s == "emergency_data"} <= {i["id"] for i in incidents}


def test_the_console_alone_reads_the_spark_jobs_health_from_redis(uninterrupted: Run, topics: Topics) -> None:
    # while the job ran, caught up: one Spark processor publishing, nothing waiting in Kafka
    health = uninterrupted.health_while_running
    assert health is not None and health["components"]["pipeline"]["ok"] is True, health
    (spark,) = health["components"]["pipeline"]["processors"]
    assert spark["mode"] == "spark" and spark["state"] == "running"
    assert health["components"]["lake"]["ok"] is True  # the S3 lake answers
    # stopped: its last status says so, with every record counted and the Kafka lag read off the query
    system = uninterrupted.system_after_stop
    assert system is not None
    (line,) = system["accounting"]["processors"]
    assert line["name"] == spark["name"] and line["state"] == "stopped"
    acc = system["accounting"]
    assert acc["totals"]["received"] == sum(map(len, topics.valid_ids.values())) + len(BAD)
    assert acc["totals"]["dead_letters"] == len(BAD)
    assert acc["lag"] is not None and sum(acc["lag"].values()) == 0
    # the latest dead letters, with their reasons, as the System tab lists them
    assert sorted((d["stream"], d["reason"] != "") for d in system["dead_letters"]) == sorted(
        (stream, True) for stream, _ in BAD
    )


def test_lake_rows_in_s3_are_the_valid_events_produced(uninterrupted: Run, topics: Topics) -> None:
    for stream in STREAMS:
        assert set(rows_by_id(uninterrupted, stream)) == topics.valid_ids[stream], stream


def test_bad_events_written_to_kafka_become_dead_letters_with_reasons(uninterrupted: Run, topics: Topics) -> None:
    letters = uninterrupted.table(DEADLETTER).to_pylist()
    assert sorted((d["stream"], d["raw"]) for d in letters) == sorted(
        (stream, value[: 64 * 1024].decode()) for stream, value in BAD
    )
    assert all(d["reason"] and d["source"].startswith(f"kafka:{topics.prefix}") for d in letters)
    oversize = next(d for d in letters if len(d["raw"]) == 64 * 1024)
    assert "exceeds" in oversize["reason"]
    # and, with SMARTCITY_DEAD_LETTER_TOPIC set, on that topic too
    sent = consume_all(uninterrupted.settings.kafka_bootstrap_servers or "", [topics.dead_letter_topic], len(BAD))
    assert sorted(orjson.loads(v)["raw"] for *_, v in sent) == sorted(d["raw"] for d in letters)


@pytest.mark.parametrize("fault", ["restarted", "redis_outage", "s3_outage"])
def test_a_fault_mid_stream_loses_and_duplicates_nothing(
    fault: str, request: pytest.FixtureRequest, uninterrupted: Run, topics: Topics
) -> None:
    """The job SIGKILLed mid-batch and restarted; its Redis, or its S3 (lake and checkpoint),
    SIGKILLed for 20 s: each ends with the uninterrupted run's lake rows and live state."""
    run: Run = request.getfixturevalue(fault)
    expected = sum(map(len, topics.valid_ids.values())) + len(BAD)
    assert 0 < run.rows_at_fault < expected  # type: ignore[attr-defined]  # the fault came mid-stream
    for stream in STREAMS:
        assert rows_by_id(run, stream) == rows_by_id(uninterrupted, stream), stream
    assert dead_letters(run) == dead_letters(uninterrupted)
    final = getattr(run, "final_state", None) or state(run)  # a Redis of the run's own is gone by now
    assert final == state(uninterrupted)


def test_embedded_and_distributed_modes_give_the_same_state_and_lake_rows(embedded: Run, uninterrupted: Run) -> None:
    for stream in STREAMS:
        assert rows_by_id(embedded, stream) == rows_by_id(uninterrupted, stream), stream
    assert dead_letters(embedded) == dead_letters(uninterrupted)
    assert state(embedded) == state(uninterrupted)


def test_the_checkpoint_lives_in_s3(uninterrupted: Run) -> None:
    assert checkpoint_batches(uninterrupted, "commits")
    assert datetime.now(UTC) > max(uninterrupted.table("gps_data").column("ingest_time").to_pylist())
