"""The speed layer's change stream, read: which entities changed, and whether a write is whole.

Every call of the speed-layer script (``speed_layer.lua``) that changes state adds one entry to
``<prefix>changes``: the ids it changed per kind (``v``, ``t``, ``w``, ``i``, each a JSON list)
and ``part``: empty for a write made in one call, ``"<write id>:more"`` on each call of a write
split into several but the last, ``"<write id>:last"`` on the last. Only the script writes
entries; this module is the one place that reads them. ``ChangeFollower`` is what a push hub
follows, in any process: it collects the changed ids per kind and knows which split writes are
still half done, so that a delta can wait for a whole write.

A sharded speed layer has one change stream per shard (``SpeedLayer.change_streams``); the
follower reads them all: in one blocking ``XREAD`` on a single Redis, by polling each shard's
stream (one pipelined round trip per node) on a Redis Cluster, where one command cannot name
keys of several slots. The calls of a split write land in several streams, so its ``last``
entry may be read before a ``more`` one: a write seen ending is not opened again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from redis.cluster import RedisCluster

KINDS = ("v", "t", "w", "i")
MAX_HOLD_S = 0.5  # longest a reader waits for a write split into calls to end
POLL_S = 0.02  # on a cluster, how often the streams are polled while nothing changes


def nothing_changed() -> dict[str, set[str]]:
    """Changed ids per kind, none yet."""
    return {kind: set() for kind in KINDS}


@dataclass(frozen=True)
class Change:
    """One entry of the change stream."""

    ids: dict[str, list[str]]  # changed ids per kind
    write_id: str = ""  # the split write it belongs to ("": a write made in one call)
    state: str = ""  # "more" (calls of that write follow), "last", or "" (not split)

    @classmethod
    def parse(cls, fields: dict[bytes, bytes]) -> Change:
        ids: dict[str, list[str]] = {}
        for kind in KINDS:
            value: Any = orjson.loads(fields.get(kind.encode(), b"[]"))
            ids[kind] = value if isinstance(value, list) else []  # Lua encodes an empty list as {}
        write_id, _, state = fields.get(b"part", b"").decode().partition(":")
        return cls(ids, write_id, state)

    @property
    def empty(self) -> bool:
        return not any(self.ids.values())


def own_connection(client: redis.Redis | RedisCluster) -> redis.Redis | RedisCluster:
    """A client with one connection of its own, to the same server, for a follower's blocking
    reads. On a pooled connection a read blocking a second at a time, taken again as soon as it
    is given back, kept that connection from everyone else: with a pool of two, requests waited
    for the other one in turn and timed out (gevent's queue hands a returned connection to the
    next taker, not the longest waiting). A cluster client is kept (it polls: ``_poll``)."""
    if isinstance(client, RedisCluster):
        return client
    pool = client.connection_pool
    own = redis.ConnectionPool(connection_class=pool.connection_class, max_connections=1, **pool.connection_kwargs)
    return redis.Redis(connection_pool=own)


@dataclass
class ChangeFollower:
    """Follows the change stream(s) (``streams``: one name, or one per shard) from their newest
    entries when first read.

    ``read`` adds the ids of new entries to a caller's ``changed`` sets; ``hold`` says how long
    to go on waiting for split writes still half done.
    """

    client: redis.Redis | RedisCluster
    streams: str | Sequence[str]
    _last_ids: dict[str, str] | None = None  # per stream, the newest entry read (None: not started)
    _open: dict[str, float] = field(default_factory=dict)  # split writes begun, not ended: id -> first seen
    _ended: dict[str, float] = field(default_factory=dict)  # split writes seen ending -> when

    def __post_init__(self) -> None:
        self.streams = (self.streams,) if isinstance(self.streams, str) else tuple(self.streams)
        self._cluster = isinstance(self.client, RedisCluster)

    def start(self) -> None:
        """Follow from the streams' newest entries now. Raises ``redis.RedisError``."""
        pipe = self.client.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xrevrange(stream, count=1)
        newest: list[Any] = pipe.execute()
        self._last_ids = {s: _text(n[0][0]) if n else "0-0" for s, n in zip(self.streams, newest, strict=True)}
        self._open.clear()
        self._ended.clear()

    def read(self, changed: dict[str, set[str]], block_s: float) -> bool:
        """Add the ids named by new entries to ``changed`` and follow split writes; False when
        nothing changed within ``block_s``. Raises ``redis.RedisError``."""
        if self._last_ids is None:
            # concrete ids, never "$": XREAD ... $ means "after the newest entry when this call
            # starts", so a change landing between two calls before the first entry was lost
            # (a new incident never pushed); "0-0" when a stream is empty reads only new entries
            self.start()
        last: dict[str, str] = self._last_ids or {}  # set by start()
        replies: Any
        if self._cluster:
            replies = self._poll(last, block_s)
        else:
            streams: Any = dict(last)
            replies = self.client.xread(streams, count=1000, block=int(block_s * 1000)) or []
        got = False
        now = time.monotonic()
        for stream, entries in replies:
            for entry_id, fields in entries:
                last[_text(stream)] = _text(entry_id)
                change = Change.parse(fields)
                got = got or not change.empty
                for kind, ids in change.ids.items():
                    changed[kind].update(ids)
                if change.state == "more" and change.write_id not in self._ended:
                    self._open.setdefault(change.write_id, now)
                elif change.state == "last":
                    self._open.pop(change.write_id, None)
                    if len(self.streams) > 1:
                        self._ended[change.write_id] = now
        if self._ended:
            self._ended = {w: t for w, t in self._ended.items() if t > now - MAX_HOLD_S}
        return got

    def _poll(self, last: dict[str, str], block_s: float) -> list[Any]:
        """Every stream's new entries, polled until some come or ``block_s`` passes."""
        deadline = time.monotonic() + block_s
        while True:
            pipe = self.client.pipeline(transaction=False)
            for stream, entry_id in last.items():
                pipe.xread({stream: entry_id}, count=1000)
            replies = [pair for reply in pipe.execute() for pair in (reply or [])]
            left = deadline - time.monotonic()
            if replies or left <= 0:
                return replies
            time.sleep(min(POLL_S, left))

    def hold(self, now: float) -> float:
        """Seconds to go on waiting for the writes still half done (0: none, or waited
        ``MAX_HOLD_S`` for them: a writer that died mid-write is forgotten)."""
        if not self._open:
            return 0.0
        left = min(self._open.values()) + MAX_HOLD_S - now
        if left <= 0:
            self._open.clear()
        return max(0.0, left)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
