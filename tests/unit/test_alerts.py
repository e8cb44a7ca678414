"""The alert log: each alert stored once (a replay adds nothing, the webhook stream gets it once),
newest first, unread until acknowledged, capped."""

from __future__ import annotations

from typing import Any

import fakeredis
import orjson
import redis

from pipeline.alerts import AlertLog, make_alert


def alert(n: int, minute: int | None = None, severity: str = "high") -> dict[str, Any]:
    t = f"2026-12-07T07:{minute if minute is not None else n:02d}:00+00:00"
    return make_alert(f"a-{n}", "zone_enter", severity, f"car-{n} entered Centre", t, f"car-{n}", "r-1")


def check_log(client: redis.Redis[Any] | Any, prefix: str) -> None:
    """The contract, on any client (fakeredis here; a real server and a cluster in tests/integration)."""
    log = AlertLog(client, prefix)
    assert log.add([alert(1), alert(2)]) == [alert(1), alert(2)]
    assert log.add([alert(2), alert(3)]) == [alert(3)]  # a replay adds only what is new
    assert [a["id"] for a in log.list()] == ["a-3", "a-2", "a-1"]  # newest first by event time
    assert log.unread_count() == 3
    acked = log.acknowledge("a-2", "olga", "2026-12-07T08:00:00+00:00")
    assert acked == {**alert(2), "acknowledged_by": "olga", "acknowledged_at": "2026-12-07T08:00:00+00:00"}
    assert list(acked) == list(alert(2))  # the contract's fields, in its order
    again = log.acknowledge("a-2", "vic", "2026-12-07T09:00:00+00:00")
    assert again is not None and again["acknowledged_by"] == "olga"  # the first acknowledgement stands
    assert log.acknowledge("nope", "olga", "2026-12-07T08:00:00+00:00") is None
    assert [a["id"] for a in log.list("unread")] == ["a-3", "a-1"] and log.unread_count() == 2
    assert [a["id"] for a in log.list("all", limit=2)] == ["a-3", "a-2"]
    assert log.list("all")[1]["acknowledged_by"] == "olga"
    entries: Any = client.xrange(log.stream_key)
    assert [orjson.loads(fields[b"alert"])["id"] for _, fields in entries] == ["a-1", "a-2", "a-3"]
    assert all(list(fields) == [b"alert"] for _, fields in entries)  # one field: the alert


def test_the_alert_log_keeps_each_alert_once_until_acknowledged() -> None:
    check_log(fakeredis.FakeRedis(), "")


def test_the_keys_are_the_contracts_under_one_hash_tag() -> None:
    log = AlertLog(fakeredis.FakeRedis())
    assert (log.data_key, log.time_key, log.unread_key, log.stream_key) == (
        "{alerts}:data", "{alerts}:time", "{alerts}:unread", "{alerts}:stream"
    )  # fmt: skip


def test_the_oldest_alerts_beyond_the_cap_are_dropped() -> None:
    client = fakeredis.FakeRedis()
    log = AlertLog(client, cap=3)
    log.add([alert(n) for n in range(5)])
    assert [a["id"] for a in log.list("all")] == ["a-4", "a-3", "a-2"]
    assert log.unread_count() == 3 and client.hlen(log.data_key) == 3
    assert log.add([alert(9, minute=0)]) == [alert(9, minute=0)]  # older than all kept: in, and out at once
    assert [a["id"] for a in log.list("all")] == ["a-4", "a-3", "a-2"]


def test_a_webhook_consumer_group_reads_each_new_alert_once() -> None:
    client = fakeredis.FakeRedis()
    log = AlertLog(client)
    client.xgroup_create(log.stream_key, "webhooks", "0", mkstream=True)
    log.add([alert(1)])
    log.add([alert(1), alert(2)])
    read: Any = client.xreadgroup("webhooks", "w1", {log.stream_key: ">"})
    assert [orjson.loads(f[b"alert"])["id"] for _, f in read[0][1]] == ["a-1", "a-2"]
