"""Pipeline health across processes, on a real redis-server: a processor publishes, and a console
that runs alone (``create_app(settings)`` with no accounting, and the documented gunicorn command)
serves ``/api/health``, ``/api/system`` and the System tab from what it published."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import redis

from app import create_app
from app.console import feed, system
from app.store import Store
from pipeline.accounting import Accounting, ProcessorStatus, StatusPublisher
from pipeline.bus import InProcessBus
from pipeline.lake import LakeWriter, open_lake
from pipeline.processor import BatchProcessor, Processor
from pipeline.schemas import STREAMS
from pipeline.settings import Settings
from pipeline.spark_job import status_publisher
from pipeline.speed_layer import SpeedLayer
from tests.city import BAD, api_settings
from tests.services import Gunicorn, RedisServer, free_port
from tests.unit.test_console import texts

VALID = 200


def gps(i: int) -> bytes:
    ts = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    return orjson.dumps({"device_id": f"car-{i % 20}", "timestamp": ts, "location": [52.44, 13.52], "speed": 20.0})


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


@pytest.fixture
def processor(real_redis: redis.Redis, prefix: str, tmp_path: Path) -> Iterator[Processor]:
    """An embedded processor publishing its status, fed valid GPS events and every kind of bad one."""
    fs, root = open_lake(str(tmp_path / "lake"))
    bus = InProcessBus(list(STREAMS), capacity=5000)
    speed = SpeedLayer(real_redis, prefix)
    proc = Processor(bus, BatchProcessor(speed, LakeWriter(fs, root, max_age_s=0.2)), max_batch=100)
    proc.publisher = StatusPublisher(speed, ProcessorStatus("embedded:itest", "embedded", proc.accounting, proc.lag))
    proc.start()
    bus.produce_many("gps_data", [(b"k", gps(i)) for i in range(VALID)])
    for stream, raw in BAD:
        bus.produce(stream, None, raw)

    def published_all() -> bool:
        found = Store(speed).processors()
        return bool(found) and found[0]["status"]["totals"]["received"] == VALID + len(BAD)

    assert wait_for(published_all), "the processor's status never reached Redis"
    yield proc
    proc.stop(timeout=30)


def test_a_console_alone_shows_what_a_processor_elsewhere_published(
    processor: Processor, redis_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    settings = api_settings(tmp_path, redis_url=redis_server.url, redis_prefix=prefix)
    app = create_app(settings)  # as gunicorn does: no processor, no accounting handed in
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer viewer-token"

    body = client.get("/api/health").json
    assert body["status"] == "ok", body
    assert body["components"]["pipeline"]["ok"] is True
    assert [(p["name"], p["state"]) for p in body["components"]["pipeline"]["processors"]] == [
        ("embedded:itest", "running")
    ]
    assert body["components"]["lake"]["ok"] is True and body["data_age_seconds"]["vehicles"] < 60

    view = client.get("/api/system").json
    gps_counts = view["accounting"]["streams"]["gps_data"]
    assert gps_counts["received"] == gps_counts["valid"] + gps_counts["dead_letters"]
    assert gps_counts["valid"] == VALID and view["accounting"]["totals"]["dead_letters"] == len(BAD)
    assert view["accounting"]["lag"] == {s: 0 for s in STREAMS}
    reasons = {(d["stream"], d["reason"]) for d in view["dead_letters"]}
    assert {s for s, _ in reasons} == {s for s, _ in BAD} and len(view["dead_letters"]) == len(BAD)
    assert ("gps_data", "speed: Input should be less than or equal to 400") in reasons

    with app.test_request_context("/"):
        st: Store = app.extensions["smartcity.store"]
        left, right = system.render(feed.system_status(st, time.time() * 1000, feed.accounting()))
    shown = texts(left) + texts(right)
    assert "embedded:itest (embedded)" in shown and "running" in shown
    assert {r for _, r in reasons} <= set(shown)  # every latest reason, as text

    processor.stop(timeout=30)
    body = client.get("/api/health").json
    assert body["status"] == "degraded" and body["components"]["pipeline"]["ok"] is False
    assert body["components"]["pipeline"]["processors"][0]["state"] == "stopped"


def test_the_gunicorn_console_serves_the_published_health(
    processor: Processor, redis_server: RedisServer, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"SMARTCITY_REDIS_URL": redis_server.url, "SMARTCITY_REDIS_PREFIX": prefix,
           "SMARTCITY_API_TOKENS": "viewer:vt", "SMARTCITY_LAKE_URI": str(tmp_path / "lake")}  # fmt: skip
    for key, value in env.items():  # the server process inherits them
        monkeypatch.setenv(key, value)
    with Gunicorn(tmp_path, free_port()) as server:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/api/health", timeout=10) as resp:
            health = json.loads(resp.read())
        assert health["components"]["pipeline"]["processors"][0]["name"] == "embedded:itest"
        req = urllib.request.Request(f"{base}/api/system", headers={"Authorization": "Bearer vt"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            view = json.loads(resp.read())
    assert view["accounting"]["totals"]["received"] == VALID + len(BAD)
    assert len(view["dead_letters"]) == len(BAD)


def test_the_spark_driver_publishes_the_jobs_status_with_its_kafka_lag(
    redis_server: RedisServer, real_redis: redis.Redis, prefix: str
) -> None:
    settings = Settings(_env_file=None, redis_url=redis_server.url, redis_prefix=prefix, topic_gps_data="t-gps")
    progress = {"sources": [{"endOffset": '{"t-gps": {"0": 40}}', "latestOffset": '{"t-gps": {"0": 100}}'}]}
    query = SimpleNamespace(id="0f9e8d7c-0000-0000-0000-000000000000", lastProgress=progress)
    publisher = status_publisher(settings, query, Accounting())  # type: ignore[arg-type]
    assert publisher is not None and publisher.publish()
    (found,) = Store(SpeedLayer(real_redis, prefix)).processors()
    assert found["name"] == "spark:0f9e8d7c" and found["status"]["mode"] == "spark"
    assert found["status"]["lag"] == {"gps_data": 60}
    assert status_publisher(Settings(_env_file=None), query, Accounting()) is None  # type: ignore[arg-type]
