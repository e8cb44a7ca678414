"""The speed layer's change stream, read: which entities changed, and whether a write is whole.

Every call of the speed-layer script (``speed_layer.lua``) that changes state adds one entry to
``<prefix>changes``: the ids it changed per kind (``v``, ``t``, ``w``, ``i``, each a JSON list)
and ``part``: empty for a write made in one call, ``"<write id>:more"`` on each call of a write
split into several but the last, ``"<write id>:last"`` on the last. Only the script writes
entries; this module is the one place that reads them. ``ChangeFollower`` is what a push hub
follows, in any process: it collects the changed ids per kind and knows which split writes are
still half done, so that a delta can wait for a whole write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

KINDS = ("v", "t", "w", "i")
MAX_HOLD_S = 0.5  # longest a reader waits for a write split into calls to end


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


@dataclass
class ChangeFollower:
    """Follows ``<prefix>changes`` from its newest entry when first read.

    ``read`` adds the ids of new entries to a caller's ``changed`` sets; ``hold`` says how long
    to go on waiting for split writes still half done.
    """

    client: redis.Redis
    stream: str
    _last_id: str | None = None  # the newest entry read (None: not started)
    _open: dict[str, float] = field(default_factory=dict)  # split writes begun, not ended: id -> first seen

    def start(self) -> None:
        """Follow from the stream's newest entry now. Raises ``redis.RedisError``."""
        newest: Any = self.client.xrevrange(self.stream, count=1)
        self._last_id = _text(newest[0][0]) if newest else "0-0"
        self._open.clear()

    def restart(self) -> None:
        """Follow from the newest entry again, at the next read."""
        self._last_id = None
        self._open.clear()

    def read(self, changed: dict[str, set[str]], block_s: float) -> bool:
        """Add the ids named by new entries to ``changed`` and follow split writes; False when
        nothing changed within ``block_s``. Raises ``redis.RedisError``."""
        if self._last_id is None:
            # a concrete id, never "$": XREAD ... $ means "after the newest entry when this call
            # starts", so a change landing between two calls before the first entry was lost
            # (a new incident never pushed); "0-0" when the stream is empty reads only new entries
            self.start()
        last: str = self._last_id or "0-0"  # set by start()
        streams: Any = self.client.xread({self.stream: last}, count=1000, block=int(block_s * 1000))
        got = False
        for _, entries in streams or []:
            for entry_id, fields in entries:
                self._last_id = _text(entry_id)
                change = Change.parse(fields)
                got = got or not change.empty
                for kind, ids in change.ids.items():
                    changed[kind].update(ids)
                if change.state == "more":
                    self._open.setdefault(change.write_id, time.monotonic())
                elif change.state == "last":
                    self._open.pop(change.write_id, None)
        return got

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
