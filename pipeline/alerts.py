"""The alert log: every alert (a new serious incident, a rule hit, an advisory) until an operator
acknowledges it, in Redis.

Keys, all under the hash tag ``{alerts}`` (one Redis Cluster slot): ``{alerts}:data`` (hash id ->
alert JSON), ``{alerts}:time`` (zset id -> event time in ms), ``{alerts}:unread`` (set of ids) and
``{alerts}:stream`` (a stream, one ``alert`` field of JSON per new alert: what the webhook
dispatcher reads with its consumer group). ``add`` is one Lua script per chunk: an id already
stored changes nothing (ids are deterministic, so a replayed batch raises nothing twice); a new
one is indexed, marked unread and appended to the stream exactly once. The log keeps the newest
``cap`` alerts by time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import redis
from redis.cluster import RedisCluster

KINDS = ("incident", "zone_enter", "zone_exit", "speed_in_zone", "congestion", "aqi", "advisory")
SEVERITIES = ("low", "medium", "high", "critical")
FIELDS = ("id", "kind", "severity", "message", "time", "entity", "rule", "acknowledged_by", "acknowledged_at")
CAP = 10_000
STREAM_MAXLEN = 100_000
CHUNK = 500  # alerts per script call

_ADD = """
local added = {}
local maxlen, cap = ARGV[1], tonumber(ARGV[2])
for i = 3, #ARGV, 3 do
  local id, ms, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HSETNX', KEYS[1], id, body) == 1 then
    redis.call('ZADD', KEYS[2], ms, id)
    redis.call('SADD', KEYS[3], id)
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', 'alert', body)
    added[#added + 1] = id
  end
end
local over = redis.call('ZCARD', KEYS[2]) - cap
if over > 0 then
  local gone = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  for _, id in ipairs(gone) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('SREM', KEYS[3], id)
  end
end
return added
"""

# ARGV: id, user, ISO time. The first acknowledgement stands; the alert's JSON back (nil: no alert)
_ACK = """
local body = redis.call('HGET', KEYS[1], ARGV[1])
if not body then return false end
local alert = cjson.decode(body)
if alert['acknowledged_by'] == nil or alert['acknowledged_by'] == cjson.null then
  alert['acknowledged_by'] = ARGV[2]
  alert['acknowledged_at'] = ARGV[3]
  body = cjson.encode(alert)
  redis.call('HSET', KEYS[1], ARGV[1], body)
end
redis.call('SREM', KEYS[2], ARGV[1])
return body
"""


def time_ms(iso: str) -> int:
    """Epoch milliseconds of an ISO-8601 time (no zone: UTC)."""
    t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() * 1000)


def make_alert(
    alert_id: str, kind: str, severity: str, message: str, time: str, entity: str, rule: str | None = None
) -> dict[str, Any]:
    """An alert as the contract has it, not acknowledged."""
    return {"id": alert_id, "kind": kind, "severity": severity, "message": message, "time": time,
            "entity": entity, "rule": rule, "acknowledged_by": None, "acknowledged_at": None}  # fmt: skip


def stream_key(prefix: str = "") -> str:
    """The stream every new alert is appended to once (the webhook dispatcher reads it)."""
    return f"{prefix}{{alerts}}:stream"


class AlertLog:
    """The alerts, newest first, with who acknowledged each."""

    def __init__(self, client: redis.Redis | RedisCluster, prefix: str = "", cap: int = CAP) -> None:
        """``prefix`` goes before the ``{alerts}`` tag (empty: the keys the contract names; a test or
        a second city on one Redis sets one). ``cap``: the oldest alerts beyond it are dropped."""
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"the alert log's prefix holds no brace: {prefix!r}")
        self.client = client
        self.cap = cap
        base = f"{prefix}{{alerts}}"
        self.data_key, self.time_key = f"{base}:data", f"{base}:time"
        self.unread_key, self.stream_key = f"{base}:unread", stream_key(prefix)
        self._add = client.register_script(_ADD)
        self._ack = client.register_script(_ACK)

    def add(self, alerts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store the alerts whose ids are new; returns those (the others were stored before)."""
        items = list(alerts)
        by_id = {a["id"]: a for a in items}
        keys = [self.data_key, self.time_key, self.unread_key, self.stream_key]
        new: list[dict[str, Any]] = []
        for start in range(0, len(items), CHUNK):
            args: list[Any] = [STREAM_MAXLEN, self.cap]
            for alert in items[start : start + CHUNK]:
                args += [alert["id"], time_ms(alert["time"]), orjson.dumps(alert)]
            added: Any = self._add(keys=keys, args=args)
            new += [by_id[_text(i)] for i in added]
        return new

    def list(self, state: Literal["unread", "all"] = "unread", limit: int = 200) -> list[dict[str, Any]]:
        """Alerts newest first: the unread ones, or all that are kept."""
        if state == "all":
            ids: Sequence[Any] = self.client.zrevrange(self.time_key, 0, limit - 1)
        else:
            unread: Any = self.client.smembers(self.unread_key)
            members = sorted(unread)
            if not members:
                return []
            scores: Any = self.client.zmscore(self.time_key, members)
            timed = sorted(((s or 0.0, m) for s, m in zip(scores, members, strict=True)), reverse=True)
            ids = [m for _, m in timed[:limit]]
        if not ids:
            return []
        bodies: Any = self.client.hmget(self.data_key, list(ids))
        return [orjson.loads(b) for b in bodies if b is not None]

    def get(self, alert_id: str) -> dict[str, Any] | None:
        body: Any = self.client.hget(self.data_key, alert_id)
        return orjson.loads(body) if body is not None else None

    def acknowledge(self, alert_id: str, user: str, at_iso: str) -> dict[str, Any] | None:
        """Mark the alert read by ``user`` at ``at_iso`` (the first acknowledgement stands);
        returns it, or None when there is no such alert."""
        body: Any = self._ack(keys=[self.data_key, self.unread_key], args=[alert_id, user, at_iso])
        if not body:
            return None
        alert: dict[str, Any] = orjson.loads(body)
        return {name: alert.get(name) for name in FIELDS}  # the contract's order (cjson's is its own)

    def unread_count(self) -> int:
        return int(self.client.scard(self.unread_key))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
