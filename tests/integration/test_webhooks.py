"""Alerts reach webhooks: signed, retried with backoff, dead-lettered after the last try, filtered
by severity and by rule, and sent once with several dispatchers on one real Redis.

Receivers are local HTTP servers (tests/webhook_receiver.py). Alerts are added to the alert
stream as the alert log adds them: one field ``alert`` = the alert's JSON. Backoff is shortened
through the dispatcher's ``retry_base_s``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest
import redis
from dash.development.base_component import Component

from app import create_app, dispatcher
from app.console import system
from app.dispatcher import GROUP, Dispatcher
from app.store import Store
from app.webhooks import Webhooks
from pipeline import runtime
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, seed
from tests.webhook_receiver import Receiver, receiver, wait_for

SECRET = "s3cret-of-the-test"
FAST = {"retry_base_s": 0.05, "block_ms": 100, "timeout_s": 2.0}


def alert(n: int, severity: str = "high", kind: str = "congestion") -> dict[str, Any]:
    return {"id": f"a-{n}", "kind": kind, "severity": severity, "message": f"alert {n}",
            "time": "2026-12-07T08:00:00+00:00", "entity": f"seg-{n}", "rule": "r-1",
            "acknowledged_by": None, "acknowledged_at": None}  # fmt: skip


class City:
    """One test's keys on a Redis: its webhooks and its alert stream."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.hooks = Webhooks(client, prefix)
        self.stream = f"{prefix}{{alerts}}:stream"

    def raise_alert(self, a: dict[str, Any]) -> None:
        self.client.xadd(self.stream, {"alert": orjson.dumps(a)})

    def hook(self, rx: Receiver, min_severity: str = "low") -> str:
        hook_id = self.hooks.add({"url": rx.url, "secret": rx.secret, "min_severity": min_severity}, "test")
        assert hook_id is not None
        return hook_id

    def dispatcher(self, **options: Any) -> Dispatcher:
        return Dispatcher(self.hooks, stream=self.stream, **{**FAST, **options})

    def pending(self) -> int:
        return int(self.client.xpending(self.stream, GROUP)["pending"])


@pytest.fixture
def city(real_redis: redis.Redis, prefix: str) -> City:
    return City(real_redis, prefix)


@pytest.fixture
def running(city: City) -> Iterator[list[Dispatcher]]:
    """Dispatchers a test starts, stopped after it."""
    started: list[Dispatcher] = []
    yield started
    for d in started:
        d.stop()


def start(running: list[Dispatcher], d: Dispatcher) -> Dispatcher:
    running.append(d.start())
    return d


def status_of(city: City, hook_id: str) -> dict[str, Any]:
    (hook,) = [h for h in city.hooks.listing() if h["id"] == hook_id]
    status: dict[str, Any] = hook["status"]
    return status


def test_an_alert_is_posted_as_json_signed_with_the_hooks_secret(city: City, running: list[Dispatcher]) -> None:
    with receiver(SECRET) as rx:
        hook_id = city.hook(rx)
        start(running, city.dispatcher())
        city.raise_alert(alert(1))
        (got,) = wait_for(rx.received, what="a delivery")
        wait_for(lambda: city.pending() == 0, what="the entry acknowledged")
    assert got.signed, got.headers
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Smartcity-Signature"] == expected
    assert got.alert == alert(1) and got.headers["Content-Type"] == "application/json"
    assert len(got.headers["X-Smartcity-Delivery"]) == 32
    status = wait_for(lambda: (s := status_of(city, hook_id))["delivered"] == 1 and s, what="the status")
    assert status["last_outcome"] == "delivered" and status["last_status"] == 200 and status["failed"] == 0


def test_a_hook_that_fails_twice_gets_the_alert_on_the_third_try(city: City, running: list[Dispatcher]) -> None:
    with receiver(SECRET, [500, 500, 200]) as rx:
        hook_id = city.hook(rx)
        start(running, city.dispatcher())
        city.raise_alert(alert(2))
        tries = wait_for(lambda: len(r := rx.received()) == 3 and r, what="three tries")
        wait_for(lambda: city.pending() == 0, what="the entry acknowledged")
    assert [t.headers["X-Smartcity-Attempt"] for t in tries] == ["1", "2", "3"]
    assert len({t.headers["X-Smartcity-Delivery"] for t in tries}) == 1  # one id: the receiver may deduplicate
    assert all(t.signed and t.alert["id"] == "a-2" for t in tries)
    status = wait_for(lambda: (s := status_of(city, hook_id))["delivered"] == 1 and s, what="the status")
    assert status["failed_attempts"] == 2 and status["failed"] == 0 and city.hooks.dead_letters() == []


def test_a_hook_that_always_fails_gets_a_dead_letter_after_the_last_try(city: City, running: list[Dispatcher]) -> None:
    with receiver(SECRET, [500]) as rx:
        hook_id = city.hook(rx)
        start(running, city.dispatcher(tries=4))
        city.raise_alert(alert(3, "critical"))
        (dead,) = wait_for(city.hooks.dead_letters, what="a dead letter")
        wait_for(lambda: city.pending() == 0, what="the entry acknowledged")
        assert len(rx.received()) == 4  # the last try was the last
    assert dead["hook"] == hook_id and dead["alert"] == alert(3, "critical")
    assert dead["attempts"] == 4 and dead["error"] == "HTTP 500"
    status = wait_for(lambda: (s := status_of(city, hook_id))["failed"] == 1 and s, what="the status")
    assert status["last_outcome"] == "failed" and status["last_status"] == 500 and status["delivered"] == 0


def test_each_hook_gets_the_alerts_of_its_severity_and_above(city: City, running: list[Dispatcher]) -> None:
    with receiver(SECRET) as every, receiver(SECRET) as urgent:
        city.hook(every, "low")
        city.hook(urgent, "high")
        start(running, city.dispatcher())
        for n, severity in enumerate(("low", "medium", "high", "critical", "unknown")):
            city.raise_alert(alert(n, severity))
        wait_for(lambda: city.pending() == 0 and len(every.received()) == 4, what="every delivery")
        assert sorted(d.alert["severity"] for d in every.received()) == ["critical", "high", "low", "medium"]
        assert sorted(d.alert["severity"] for d in urgent.received()) == ["critical", "high"]


ADMIN = {"Authorization": "Bearer admin-token"}
MITTE = {"type": "Feature", "properties": {"name": "Mitte"}, "geometry": {"type": "Polygon", "coordinates": [
    [[13.50, 52.40], [13.60, 52.40], [13.60, 52.50], [13.50, 52.50], [13.50, 52.40]]]}}  # fmt: skip


def test_a_hook_per_rule_gets_only_the_alerts_its_rule_raises(
    real_redis: redis.Redis, prefix: str, tmp_path: Path, running: list[Dispatcher]
) -> None:
    """Two rules fire in the embedded processor; the hook of each gets its rule's alert only,
    signed with its own secret; a hook that names no rule gets both, as every hook did before."""
    settings = api_settings(tmp_path, redis_prefix=prefix, alerts_prefix=prefix, rules_reload_seconds=0.1)
    app = create_app(settings, store=Store(runtime.speed_layer(settings, real_redis)))
    dispatcher(app).stop()  # the app's own waits seconds between tries: this test runs a quicker one
    web = app.test_client()
    zone = web.post("/api/zones", json=MITTE, headers=ADMIN).json["id"]
    rules = [{"name": "into Mitte", "kind": "zone_enter", "zone": zone, "severity": "high"},
             {"name": "smog", "kind": "aqi", "threshold": 150, "severity": "medium"}]  # fmt: skip
    entering, smog = (web.post("/api/rules", json=r, headers=ADMIN).json["id"] for r in rules)
    made: list[str] = []
    with receiver("zone-secret") as zone_rx, receiver("smog-secret") as smog_rx, receiver(SECRET) as every:
        try:
            for rx, body in ((zone_rx, {"rules": [entering]}), (smog_rx, {"rules": [smog]}), (every, {})):
                hook = web.post("/api/webhooks", headers=ADMIN,
                                json={"url": rx.url, "secret": rx.secret, "min_severity": "low", **body})  # fmt: skip
                assert hook.status_code == 201, hook.json
                made.append(hook.json["id"])
            stream = app.extensions["smartcity.store"].alert_log(prefix).stream_key
            start(running, Dispatcher(app.extensions["smartcity.webhooks"], stream=stream, **FAST))
            bus, proc = runtime.embedded(settings, real_redis)
            proc.start()
            t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
            inside, outside = [52.45, 13.55], [52.30, 13.30]
            car = {"device_id": "car-1", "speed": 30.0, "vehicle_type": "car"}
            station = {"device_id": "ws-1", "location": inside, "temperature": 9.0}
            events = [("vehicle_data", {**car, "location": outside}, 0),
                      ("vehicle_data", {**car, "location": inside}, 1),
                      ("weather_data", {**station, "airQualityIndex": 90}, 0),
                      ("weather_data", {**station, "airQualityIndex": 180}, 5)]  # fmt: skip
            for topic, fields, s in events:
                event = {**fields, "timestamp": (t0 + timedelta(seconds=s)).isoformat()}
                bus.produce(topic, str(event["device_id"]).encode(), orjson.dumps(event))
            assert proc.stop(timeout=60)
            wait_for(lambda: len(every.received()) == 2, what="both alerts at the hook of every rule")
            wait_for(lambda: zone_rx.received() and smog_rx.received(), what="each rule's alert at its hook")
            wait_for(lambda: int(real_redis.xpending(stream, GROUP)["pending"]) == 0, what="every entry acknowledged")
        finally:
            for hook_id in made:  # the app's hooks have no prefix: leave none behind on the shared Redis
                web.delete(f"/api/webhooks/{hook_id}", headers=ADMIN)
    (to_zone,), (to_smog,) = zone_rx.received(), smog_rx.received()
    assert (to_zone.alert["rule"], to_zone.alert["kind"], to_zone.alert["entity"]) == (entering, "zone_enter", "car-1")
    assert (to_smog.alert["rule"], to_smog.alert["kind"], to_smog.alert["entity"]) == (smog, "aqi", "ws-1")
    assert to_zone.signed and to_smog.signed and all(d.signed for d in every.received())
    assert sorted(d.alert["rule"] for d in every.received()) == sorted([entering, smog])


def test_a_failing_hook_holds_up_neither_other_hooks_nor_later_alerts(city: City, running: list[Dispatcher]) -> None:
    with receiver(SECRET, [503]) as down, receiver(SECRET) as up:
        city.hook(down)
        city.hook(up)
        start(running, city.dispatcher(retry_base_s=30.0))  # the failing hook's retry waits for ages
        for n in range(3):
            city.raise_alert(alert(n))
        wait_for(lambda: len(up.received()) == 3, what="the healthy hook's deliveries")
        wait_for(lambda: len(down.received()) == 3, what="each alert tried once at the failing hook")
        assert city.pending() == 3  # their retries wait their turn (15 s at the earliest), held up by nothing


def test_two_dispatchers_on_one_redis_send_each_alert_once(city: City, running: list[Dispatcher]) -> None:
    with receiver(SECRET) as rx:
        city.hook(rx)
        first = start(running, city.dispatcher(consumer="worker-1"))
        second = start(running, city.dispatcher(consumer="worker-2"))
        for n in range(60):
            city.raise_alert(alert(n))
        wait_for(lambda: len(rx.received()) >= 60 and city.pending() == 0, what="every alert delivered")
        wait_for(lambda: first.counts["delivered"] + second.counts["delivered"] == 60, what="the counts")
        ids = Counter(d.alert["id"] for d in rx.received())
    assert set(ids) == {f"a-{n}" for n in range(60)} and set(ids.values()) == {1}


def test_the_entries_of_a_dead_consumer_are_claimed_and_sent(city: City, running: list[Dispatcher]) -> None:
    with receiver(SECRET) as rx:
        city.hook(rx)
        city.client.xgroup_create(city.stream, GROUP, id="0", mkstream=True)
        city.raise_alert(alert(7))
        # a worker read it and died before sending it
        assert city.client.xreadgroup(GROUP, "worker-that-died", {city.stream: ">"})
        start(running, city.dispatcher(claim_idle_s=0.3))
        (got,) = wait_for(rx.received, what="the claimed alert")
        wait_for(lambda: city.pending() == 0, what="the entry acknowledged")
    assert got.alert["id"] == "a-7"


def test_an_alert_being_retried_is_not_claimed_by_another_dispatcher(city: City, running: list[Dispatcher]) -> None:
    with receiver(SECRET, [500, 500, 500, 200]) as rx:
        city.hook(rx)
        # its three retries take 1.4 to 2.8 s, longer than an entry may stay idle before a dead
        # consumer's is claimed: only the claims of the consumer sending it keep it its own
        start(running, city.dispatcher(consumer="worker-1", claim_idle_s=1.5, retry_base_s=0.4))
        city.raise_alert(alert(8))
        wait_for(rx.received, what="the first try")
        start(running, city.dispatcher(consumer="worker-2", claim_idle_s=1.5, retry_base_s=0.4))
        wait_for(lambda: city.pending() == 0, what="the entry acknowledged")
        assert [d.headers["X-Smartcity-Attempt"] for d in rx.received()] == ["1", "2", "3", "4"]


def test_the_dispatcher_survives_redis_going_away_and_resumes(tmp_path: Path) -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    city = City(client, "")
    with receiver(SECRET) as rx:
        city.hook(rx)
        d = city.dispatcher().start()
        try:
            city.raise_alert(alert(1))
            wait_for(lambda: len(rx.received()) == 1, what="the first delivery")
            server.connected = False
            wait_for(lambda: d.counts["redis_errors"] >= 3, what="reads failing while Redis is away")
            assert d.running and any(t.name == "smartcity-webhooks" and t.is_alive() for t in threading.enumerate())
            server.connected = True
            city.raise_alert(alert(2))
            wait_for(lambda: len(rx.received()) == 2, what="the delivery after the outage")
        finally:
            d.stop()
    assert [r.alert["id"] for r in rx.received()] == ["a-1", "a-2"]


def texts(component: Any) -> str:
    """Every string of a Dash component tree, joined."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(texts(c) for c in component)
    if isinstance(component, Component):
        return texts(getattr(component, "children", None) or [])
    return ""


def test_a_dead_letter_shows_in_the_api_and_the_system_tab(tmp_path: Path) -> None:
    speed = SpeedLayer(fakeredis.FakeRedis(), "wh:")
    seed(speed)
    app = create_app(api_settings(tmp_path), store=Store(speed))
    dispatcher(app).stop()  # the app's own waits seconds between tries: this test runs a quicker one
    client = app.test_client()
    admin = {"Authorization": "Bearer admin-token"}
    with receiver(SECRET, [500]) as rx:
        made = client.post("/api/webhooks", json={"url": rx.url, "secret": SECRET, "min_severity": "medium"},
                           headers=admin)  # fmt: skip
        assert made.status_code == 201
        quick = Dispatcher(app.extensions["smartcity.webhooks"], **FAST).start()
        try:
            speed.client.xadd("{alerts}:stream", {"alert": orjson.dumps(alert(9, "high", "aqi"))})
            listing = wait_for(lambda: (b := client.get("/api/webhooks", headers=admin).json)["dead_letters"] and b,
                               what="the dead letter")  # fmt: skip
        finally:
            quick.stop()
    (hook,) = listing["webhooks"]
    assert hook["id"] == made.json["id"] and hook["secret"] == "set" and SECRET not in str(listing)
    assert hook["status"]["failed"] == 1 and hook["status"]["last_error"] == "HTTP 500"
    (dead,) = listing["dead_letters"]
    assert dead["alert"]["id"] == "a-9" and dead["attempts"] == 5 and dead["hook"] == hook["id"]
    with app.test_request_context():
        shown = texts(system.webhook_panel(*system.read_webhooks()))
    assert rx.url.removesuffix("/hook") in shown and "/hook" not in shown  # the URL's host only
    assert "failed" in shown and "HTTP 500" in shown and "high aqi: alert 9" in shown


def test_on_a_redis_cluster_an_alert_is_delivered_and_a_failing_one_dead_lettered(
    cluster_redis: Any, prefix: str, running: list[Dispatcher]
) -> None:
    city = City(cluster_redis, prefix)  # the hooks and the alert stream in two slots, each under its tag
    with receiver(SECRET) as ok, receiver(SECRET, [500]) as failing:
        delivered, dead = city.hook(ok), city.hook(failing, "critical")
        start(running, city.dispatcher(tries=2))
        city.raise_alert(alert(1, "high"))
        city.raise_alert(alert(2, "critical"))
        (letter,) = wait_for(city.hooks.dead_letters, what="a dead letter")
        wait_for(lambda: city.pending() == 0 and len(ok.received()) == 2, what="both alerts handled")
    assert all(d.signed for d in ok.received()) and letter["hook"] == dead and letter["alert"]["id"] == "a-2"
    wait_for(lambda: status_of(city, delivered)["delivered"] == 2, what="the status")
