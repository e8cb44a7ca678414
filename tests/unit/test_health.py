"""Pipeline health: what processors publish to the speed layer, and what the console and API make of it."""

from __future__ import annotations

import time
from pathlib import Path

import fakeredis
import redis
from flask import Flask
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import health
from app.store import Store
from pipeline.accounting import Accounting, ProcessorStatus, Rates, StatusPublisher, combine
from pipeline.bus import InProcessBus
from pipeline.lake import LakeWriter, open_lake
from pipeline.processor import BatchProcessor, Processor, RawEvent
from pipeline.schemas import STREAMS
from pipeline.speed_layer import SpeedLayer
from tests.unit.test_processor import gps


def unreachable() -> redis.Redis:
    """A client of a Redis that is not there (refused at once, not retried)."""
    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


def test_rates_are_events_per_second_per_stream_over_a_window() -> None:
    rates = Rates(window_s=10.0)
    assert rates.update(100.0, {"gps_data": 0}) == {}  # nothing to compare with yet
    assert rates.update(102.0, {"gps_data": 400, "weather_data": 4}) == {"gps_data": 200.0, "weather_data": 2.0}
    for t in range(103, 120):
        rates.update(float(t), {"gps_data": 400 + (t - 102) * 50, "weather_data": 4})
    # the burst at the start has left the window: the rate is the recent 50/s, and weather stopped
    assert rates.update(120.0, {"gps_data": 1300, "weather_data": 4}) == {"gps_data": 50.0, "weather_data": 0.0}


def test_statuses_of_several_processors_add_up() -> None:
    a, b = Accounting(), Accounting()
    a.stream("gps_data").received, a.stream("gps_data").last_event_ms = 10, 5
    b.stream("gps_data").received, b.stream("gps_data").last_event_ms = 7, 9
    b.lake_errors, b.last_error = 1, "lake: down"
    one = a.snapshot() | {"rates_per_s": {"gps_data": 2.0}, "lag": {"gps_data": 3}}
    two = b.snapshot() | {"rates_per_s": {"gps_data": 1.5}, "lag": None}
    both = combine([one, two])
    assert both is not None
    assert both["streams"]["gps_data"]["received"] == 17 and both["streams"]["gps_data"]["last_event_ms"] == 9
    assert both["totals"]["received"] == 17 and both["lake_errors"] == 1 and both["last_error"] == "lake: down"
    assert both["rates_per_s"] == {"gps_data": 3.5} and both["lag"] == {"gps_data": 3}
    assert combine([]) is None


def test_a_published_status_is_found_and_then_goes_stale_and_gone() -> None:
    speed = SpeedLayer(fakeredis.FakeRedis(), "h:")
    acc = Accounting()
    acc.stream("gps_data").received = 12
    publisher = StatusPublisher(speed, ProcessorStatus("embedded:a", "embedded", acc, lambda: {"gps_data": 4}))
    assert publisher.publish()
    st = Store(speed)
    (found,) = st.processors()
    assert found["name"] == "embedded:a" and found["status"]["totals"]["received"] == 12
    assert 0 < speed.client.pttl(speed.keys.entity("pipeline", "embedded:a")) <= 30_000  # expires unless refreshed
    now_ms = found["published_ms"]
    acc_now = health.pipeline_accounting(st, None, now_ms)
    assert acc_now is not None and acc_now["lag"] == {"gps_data": 4}
    assert [(p["state"], p["lag"]) for p in acc_now["processors"]] == [("running", 4)]
    (late,) = health.processors(st, now_ms + 10_000)
    assert late["state"] == "stale"
    speed.client.delete(speed.keys.entity("pipeline", "embedded:a"))  # what its TTL does once it stops publishing
    (gone,) = health.processors(st, now_ms + 40_000)
    assert (gone["state"], gone["age_s"], gone["status"]) == ("gone", 40.0, None)
    assert health.pipeline_accounting(st, None, now_ms)["processors"][0]["state"] == "gone"  # type: ignore[index]


def test_publishing_into_an_unreachable_redis_never_raises() -> None:
    publisher = StatusPublisher(SpeedLayer(unreachable(), "h:"), ProcessorStatus("x", "embedded", Accounting()))
    assert publisher.publish() is False


def test_the_embedded_processor_publishes_while_it_runs_and_says_when_it_stopped(tmp_path: Path) -> None:
    client = fakeredis.FakeRedis()
    fs, root = open_lake(str(tmp_path))
    bus = InProcessBus(list(STREAMS), capacity=1000)
    speed = SpeedLayer(client, "p:")
    proc = Processor(bus, BatchProcessor(speed, LakeWriter(fs, root)), max_batch=50)
    proc.publisher = StatusPublisher(speed, ProcessorStatus("embedded:t", "embedded", proc.accounting, proc.lag))
    proc.start()
    bus.produce_many("gps_data", [(b"car-1", gps(i)) for i in range(100)] + [(b"x", b"garbage")])
    deadline = time.monotonic() + 30
    while not Store(speed).processors() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert Store(speed).processors()[0]["status"]["state"] == "running"
    assert proc.stop(timeout=30)
    (last,) = Store(speed).processors()
    status = last["status"]
    assert status["state"] == "stopped" and status["mode"] == "embedded"
    assert status["streams"]["gps_data"]["received"] == 101 and status["streams"]["gps_data"]["dead_letters"] == 1
    assert status["lag"] == {s: 0 for s in STREAMS} and status["lake_written_ms"] > 0
    assert [d["reason"].split(":")[0] for d in speed.dead_letters()] == ["not valid JSON"]
    assert health.processors(Store(speed), time.time() * 1000)[0]["state"] == "stopped"


def test_health_names_each_component_and_the_processors(app: Flask, client: FlaskClient) -> None:
    body = client.get("/api/health").json
    assert body["status"] == "ok"  # no processor known: the pipeline is not judged
    assert body["components"]["lake"]["ok"] is True and body["components"]["pipeline"]["ok"] is None
    st: Store = app.extensions["smartcity.store"]
    publisher = StatusPublisher(st.speed, ProcessorStatus("spark:abc", "spark", Accounting()))
    publisher.publish()
    body = client.get("/api/health").json
    assert body["status"] == "ok" and body["components"]["pipeline"]["ok"] is True
    (p,) = body["components"]["pipeline"]["processors"]
    assert (p["name"], p["mode"], p["state"]) == ("spark:abc", "spark", "running") and p["age_seconds"] < 5
    publisher.publish("stopped")
    resp = client.get("/api/health")
    assert resp.status_code == 200 and resp.json["status"] == "degraded"
    assert resp.json["components"]["pipeline"]["processors"][0]["state"] == "stopped"


def test_health_is_503_only_when_the_speed_layer_is_unreachable(app: Flask) -> None:
    app.extensions["smartcity.store"] = Store(SpeedLayer(unreachable(), "h:"))
    resp = app.test_client().get("/api/health")
    assert resp.status_code == 503 and resp.json["components"]["speed_layer"]["ok"] is False


def test_an_unreachable_lake_degrades_health(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    class Down:
        def get_file_info(self, _path: str) -> None:
            raise OSError("S3 said no")

    app.extensions["smartcity.lake_probe"] = health.LakeProbe(Down(), "bucket/lake")  # type: ignore[arg-type]
    body = client.get("/api/health").json
    assert body["status"] == "degraded" and body["components"]["lake"] == {
        "ok": False, "error": "S3 said no", "last_write_age_seconds": None, "errors": None}  # fmt: skip


def test_the_system_route_shows_counters_and_dead_letters_to_viewers(app: Flask, client: FlaskClient) -> None:
    st: Store = app.extensions["smartcity.store"]
    fs, root = app.extensions["smartcity.lake"]
    batch = BatchProcessor(st.speed, LakeWriter(fs, root))
    batch.process([RawEvent("gps_data", gps(1)), RawEvent("gps_data", b"{oops", "http")])
    batch.flush_lake()
    StatusPublisher(st.speed, ProcessorStatus("embedded:x", "embedded", batch.accounting)).publish()
    assert app.test_client().get("/api/system").status_code == 401
    view = client.get("/api/system").json
    assert view["store_ok"] is True and view["ws_clients"] == 0
    assert view["accounting"]["streams"]["gps_data"]["dead_letters"] == 1
    assert view["accounting"]["processors"][0]["name"] == "embedded:x"
    assert [(d["stream"], d["reason"].split(":")[0], d["source"], d["raw"]) for d in view["dead_letters"]] == [
        ("gps_data", "not valid JSON", "http", "{oops")]  # fmt: skip
    assert view["lake"]["reachable"] is True and view["lake"]["last_write_age_s"] is not None
    assert 0 <= view["data_age_s"]["vehicles"] < 60


def test_metrics_come_from_the_published_status_when_no_processor_runs_here(app: Flask) -> None:
    st: Store = app.extensions["smartcity.store"]
    acc = Accounting()
    acc.stream("gps_data").received = 5
    StatusPublisher(st.speed, ProcessorStatus("embedded:m", "embedded", acc, lambda: {"gps_data": 2})).publish()
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'smartcity_events_received_total{stream="gps_data"} 5' in text
    assert 'smartcity_events_waiting{stream="gps_data"} 2' in text and "smartcity_processors_running 1" in text
