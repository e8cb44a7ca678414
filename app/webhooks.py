"""Webhooks: where alerts are sent, how each delivery is signed, and how each hook is doing.

Everything lives in Redis under the hash tag ``{webhooks}`` (one Redis Cluster slot):

- ``{webhooks}:hooks``: hash, hook id -> the hook as JSON (url, secret, min_severity, the rules
  whose alerts it takes when it names some, who and when);
- ``{webhooks}:status:<id>``: hash, the hook's delivery counters and its last attempt;
- ``{webhooks}:dead``: stream, capped, one entry per delivery given up after its last try
  (the alert, the hook, the number of tries, the last error).

Secrets are kept (each delivery is signed with one) but never shown: a hook read for people
has ``"secret": "set"``. ``app.dispatcher.Dispatcher`` does the sending.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import redis
from redis.cluster import RedisCluster

from pipeline.schemas import SEVERITIES
from pipeline.speed_layer import text

SIGNATURE_HEADER = "X-Smartcity-Signature"
DELIVERY_HEADER = "X-Smartcity-Delivery"  # the same on every try of one alert to one hook
MAX_URL_LENGTH = 2048
MAX_SECRET_LENGTH = 256
MAX_HOOKS = 100
DEAD_MAXLEN = 1000
FIELDS = ("url", "secret", "min_severity")  # required
OPTIONAL = ("rules",)  # the rule ids whose alerts a hook takes; absent: every alert
MAX_HOOK_RULES = 100
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_COUNTERS = {"delivered": "delivered", "retrying": "failed_attempts", "failed": "failed"}
# one attempt's outcome on the hook's status, only while the hook exists (a delivery may end
# after its hook was deleted: it must not leave a status behind)
_RECORD = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HSET', KEYS[2], 'last_outcome', ARGV[3], 'last_status', ARGV[4], 'last_error', ARGV[5], 'last_at', ARGV[6])
return 1
"""


def severity_rank(severity: Any) -> int | None:
    """0 (low) to 3 (critical); None for anything else."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else None


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of body with secret>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_id(hook_id: str, alert_id: str) -> str:
    """An idempotency id for one alert to one hook (hex: alert ids are any text, headers are not)."""
    return hashlib.sha256(f"{hook_id}\n{alert_id}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a hook's URL: what may be shown where the path (which for
    some services is itself the secret) may not."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def check_url(url: Any) -> str:
    """``url`` if it can be a webhook's; else ValueError with the reason."""
    if not isinstance(url, str):
        raise ValueError("url must be a string")
    if not 0 < len(url) <= MAX_URL_LENGTH:
        raise ValueError(f"url must be 1 to {MAX_URL_LENGTH} characters")
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        raise ValueError("url must be printable ASCII without spaces (percent-encode other characters)")
    if not url.startswith(("http://", "https://")):
        raise ValueError("url must start with http:// or https://")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ValueError(f"url is not a URL: {exc}") from None
    if "@" in parts.netloc:
        raise ValueError("url must not carry credentials: the secret signs each delivery")
    host = parts.hostname or ""
    if not host:
        raise ValueError("url must name a host")
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("url's host is not an IPv6 address") from None
    elif not _HOST.match(host):
        raise ValueError("url's host must be a name or an address (letters, digits, '-' and '.')")
    return url


def check_rules(rules: Any) -> list[str]:
    """``rules`` if it can be a hook's: 1 to ``MAX_HOOK_RULES`` rule ids, each once (whether
    those rules exist is the rule book's to say); else ValueError with the reason."""
    if not isinstance(rules, list) or not rules or len(rules) > MAX_HOOK_RULES:
        raise ValueError(f"rules must be a list of 1 to {MAX_HOOK_RULES} rule ids (leave it out for every rule)")
    if not all(isinstance(r, str) and 0 < len(r) <= 64 for r in rules):
        raise ValueError("rules must hold rule ids: strings of 1 to 64 characters")
    if len(set(rules)) < len(rules):
        raise ValueError("rules must name each rule once")
    return list(rules)


def parse_hook(body: Any) -> dict[str, Any]:
    """A POSTed hook as ``{url, secret, min_severity}``, with ``rules`` when it names some;
    ValueError with the reason otherwise."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object with url, secret and min_severity (and optionally rules)")
    unknown = sorted(set(body) - set(FIELDS) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(map(repr, unknown))[:200]}")
    missing = [f for f in FIELDS if f not in body]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    secret = body["secret"]
    if not isinstance(secret, str) or not 0 < len(secret) <= MAX_SECRET_LENGTH:
        raise ValueError(f"secret must be a string of 1 to {MAX_SECRET_LENGTH} characters")
    try:
        secret.encode()
    except UnicodeEncodeError:
        raise ValueError("secret must be valid Unicode text") from None
    if body["min_severity"] not in SEVERITIES:
        raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}")
    hook = {"url": check_url(body["url"]), "secret": secret, "min_severity": body["min_severity"]}
    return {**hook, "rules": check_rules(body["rules"])} if "rules" in body else hook


@dataclass(frozen=True)
class Hook:
    """A hook as the dispatcher needs it."""

    id: str
    url: str
    secret: str
    min_severity: str
    rules: frozenset[str] | None = None  # None: alerts of every rule (and of none)

    def wants(self, severity: Any, rule: Any = None) -> bool:
        """Whether an alert of ``severity``, raised by ``rule`` (its id; None when no rule raised
        it), goes to this hook: at or above its minimum severity (unknown severities go nowhere),
        and by one of its rules when it names some."""
        rank = severity_rank(severity)
        if rank is None or rank < SEVERITIES.index(self.min_severity):
            return False
        return self.rules is None or rule in self.rules


class Webhooks:
    """The hooks, their delivery status and dead letters, in Redis. ``prefix`` goes before the
    hash tag (tests give each their own; the app none)."""

    def __init__(self, client: redis.Redis | RedisCluster, prefix: str = "") -> None:
        self.client = client
        base = f"{prefix}{{webhooks}}"
        self.hooks_key, self.dead_key, self._status_base = f"{base}:hooks", f"{base}:dead", f"{base}:status:"
        self._record = client.register_script(_RECORD)

    def connection(self) -> redis.Redis | RedisCluster:
        """The Redis they live in (the alert log's: the dispatcher reads its stream there)."""
        return self.client

    def status_key(self, hook_id: str) -> str:
        return self._status_base + hook_id

    def add(self, hook: dict[str, Any], user: str) -> str | None:
        """Store a checked hook (``parse_hook``); its id, or None when ``MAX_HOOKS`` exist."""
        if int(self.client.hlen(self.hooks_key)) >= MAX_HOOKS:
            return None
        hook_id = uuid.uuid4().hex
        record = {"id": hook_id, **hook, "created_at": _now(), "created_by": user}
        self.client.hset(self.hooks_key, hook_id, orjson.dumps(record))
        return hook_id

    def delete(self, hook_id: str) -> dict[str, Any] | None:
        """Remove a hook and its status; the hook as it was (secret hidden), or None if unknown."""
        raw: Any = self.client.hget(self.hooks_key, hook_id)
        if raw is None:
            return None
        pipe = self.client.pipeline(transaction=False)
        pipe.hdel(self.hooks_key, hook_id)
        pipe.delete(self.status_key(hook_id))
        pipe.execute()
        return _shown(orjson.loads(raw))

    def hooks(self) -> dict[str, Hook]:
        """Every hook, with its secret: for the dispatcher only."""
        raw: Any = self.client.hgetall(self.hooks_key)
        out = {}
        for value in raw.values():
            h = orjson.loads(value)
            rules = frozenset(h["rules"]) if h.get("rules") is not None else None  # hooks stored before rules: None
            out[h["id"]] = Hook(h["id"], h["url"], h["secret"], h["min_severity"], rules)
        return out

    def listing(self) -> list[dict[str, Any]]:
        """Every hook for people (secret shown as ``"set"``) with its delivery status, oldest first."""
        raw: Any = self.client.hgetall(self.hooks_key)
        hooks = sorted((orjson.loads(v) for v in raw.values()), key=lambda h: (h["created_at"], h["id"]))
        pipe = self.client.pipeline(transaction=False)
        for h in hooks:
            pipe.hgetall(self.status_key(h["id"]))
        statuses = pipe.execute() if hooks else []
        return [{**_shown(h), "status": _status(s)} for h, s in zip(hooks, statuses, strict=True)]

    def record(self, hook_id: str, outcome: str, status: int | None, error: str | None) -> None:
        """One attempt's outcome: ``delivered``, ``retrying`` (a try failed, another follows) or
        ``failed`` (the last try failed: a dead letter)."""
        self._record(
            keys=[self.hooks_key, self.status_key(hook_id)],
            args=[hook_id, _COUNTERS[outcome], outcome, "" if status is None else status, error or "", _now()],
        )

    def dead_letter(self, alert: bytes, hook_id: str, attempts: int, error: str) -> None:
        fields: dict[Any, Any] = {"alert": alert, "hook": hook_id, "attempts": attempts, "error": error, "at": _now()}
        self.client.xadd(self.dead_key, fields, maxlen=DEAD_MAXLEN, approximate=True)

    def dead_letters(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest deliveries given up, newest first."""
        entries: Any = self.client.xrevrange(self.dead_key, count=limit)
        out = []
        for entry_id, fields in entries:
            f = {text(k): v for k, v in fields.items()}
            try:
                alert = orjson.loads(f.get("alert", b"null"))
            except orjson.JSONDecodeError:
                alert = text(f.get("alert", b""))
            out.append({"id": text(entry_id), "hook": text(f.get("hook", b"")), "alert": alert,
                        "attempts": int(f.get("attempts", 0)), "error": text(f.get("error", b"")),
                        "at": text(f.get("at", b""))})  # fmt: skip
        return out


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _shown(hook: dict[str, Any]) -> dict[str, Any]:
    """A hook for people: its secret hidden, ``rules`` null when it takes every rule's alerts."""
    return {"rules": None, **hook, "secret": "set"}


def _status(raw: dict[Any, Any]) -> dict[str, Any]:
    s = {text(k): text(v) for k, v in raw.items()}
    return {
        "delivered": int(s.get("delivered", 0)),
        "failed": int(s.get("failed", 0)),
        "failed_attempts": int(s.get("failed_attempts", 0)),
        "last_outcome": s.get("last_outcome") or None,
        "last_status": int(s["last_status"]) if s.get("last_status") else None,
        "last_error": s.get("last_error") or None,
        "last_at": s.get("last_at") or None,
    }
