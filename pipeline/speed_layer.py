"""Speed layer: the current state of the city in Redis.

``SpeedLayer.write`` folds a micro-batch of validated records into Redis with one
Lua script call per chunk (``speed_layer.lua``): atomic, order-safe (older events
never overwrite newer state) and idempotent (replaying a batch changes nothing).
The same class runs against a real Redis and the embedded in-process store, and
from Spark executors. The read helpers are O(result): sorted sets, GEO, hashes.
Beside the city's state it keeps what the console needs to judge the pipeline: each batch's
newest dead letters (written by the same script call) and the processors' published statuses.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
import redis

from pipeline import live_model
from pipeline.live_model import CONGESTED_FROM, level_rank
from pipeline.live_model import VEHICLE_ROW as VEHICLE_ROW  # the map rows' columns, for this module's readers
from pipeline.schemas import VEHICLE_TYPES
from pipeline.validation import DeadLetter, Record

_LUA = resources.files("pipeline").joinpath("speed_layer.lua").read_text(encoding="utf-8")
_ROWS_LUA = resources.files("pipeline").joinpath("vehicle_rows.lua").read_text(encoding="utf-8")

# stream -> (kind in Redis, field holding the entity id)
ENTITY: dict[str, tuple[str, str]] = {
    "vehicle_data": ("v", "device_id"),
    "gps_data": ("v", "device_id"),
    "traffic_data": ("t", "camera_id"),
    "weather_data": ("w", "device_id"),
    "emergency_data": ("i", "incidentId"),
}
_SOURCE = {"vehicle_data": "vehicle", "gps_data": "gps"}
_TYPES = set(VEHICLE_TYPES)
# An entity's hash keeps its newest event's extra fields (``extra``, a JSON object) up to this
# many bytes of JSON: beyond it, the first fields that fit and ``"_more": <fields left out>``.
# The lake keeps them all.
EXTRA_BYTES = 1024


@dataclass(frozen=True)
class SpeedLayerConfig:
    """Retention rules of the speed layer (all in event time)."""

    ttl_s: float = 3600.0  # vehicle/sensor hashes expire after this long without updates
    active_s: float = 120.0  # a vehicle unseen this long leaves the active set and the map
    sensor_s: float = 900.0  # a sensor/station unseen this long leaves its index
    track_len: int = 30  # recent positions kept per vehicle
    resolved_s: float = 86_400.0  # resolved incidents stay listed this long
    changes_maxlen: int = 1000  # change notifications kept in the Redis stream
    chunk: int = 2000  # entities per script call, so Redis is never blocked for long
    dead_letters_kept: int = 100  # the newest dead letters, for the console (the lake keeps all)
    dead_letter_raw_chars: int = 300  # of each one's raw payload

    def as_lua(self) -> bytes:
        return orjson.dumps(
            {
                "ttl_ms": int(self.ttl_s * 1000),
                "active_ms": int(self.active_s * 1000),
                "sensor_ms": int(self.sensor_s * 1000),
                "track_len": self.track_len,
                "resolved_ms": int(self.resolved_s * 1000),
                "changes_maxlen": self.changes_maxlen,
                "dead_letters_kept": self.dead_letters_kept,
            }
            | live_model.lua_config()
        )


class Keys:
    """Redis key names: the one declaration of the speed layer's key layout, for the writer
    (handed to the Lua scripts in their arguments) and every reader.

    Entity ids come from outside and may hold any text (``active``, ``geo``, ``x:track``,
    ``*``, newlines…), so entity keys live in namespaces of their own: ``<prefix><kind>:id:<id>``
    for an entity's hash and ``<prefix><kind>:track:<id>`` for a vehicle's recent positions.
    Every index key is ``<prefix><kind>:<name>`` with a fixed name that is never ``id`` or
    ``track``, so no id can name or collide with an index, another entity or another kind.
    """

    KINDS = ("v", "t", "w", "i")

    def __init__(self, prefix: str = "sc:") -> None:
        self.prefix = p = prefix
        self.v_geo, self.v_active = f"{p}v:geo", f"{p}v:active"
        self.t_geo, self.t_index, self.t_congestion = f"{p}t:geo", f"{p}t:index", f"{p}t:congestion"
        self.w_geo, self.w_index = f"{p}w:geo", f"{p}w:index"
        self.i_geo, self.i_active, self.i_resolved = f"{p}i:geo", f"{p}i:active", f"{p}i:resolved"
        self.summary, self.changes, self.deadletters = f"{p}summary", f"{p}changes", f"{p}deadletters"
        self.audit, self.pipeline = f"{p}audit", f"{p}pipeline"

    def entity(self, kind: str, entity_id: str) -> str:
        """The hash of one vehicle (v), traffic sensor (t), weather station (w) or incident (i)."""
        return f"{self.prefix}{kind}:id:{entity_id}"

    def track(self, vehicle_id: str) -> str:
        """A vehicle's recent positions, newest first."""
        return f"{self.prefix}v:track:{vehicle_id}"

    def index(self, kind: str) -> str:
        """The ids of the reporting sensors (t, w) or the active incidents (i), by event time."""
        return self.i_active if kind == "i" else f"{self.prefix}{kind}:index"

    def v_active_type(self, vehicle_type: str) -> str:
        """The active vehicles of one type (types are ``VEHICLE_TYPES`` only, never an id)."""
        return f"{self.v_active}:{vehicle_type}"

    def status(self, name: str) -> str:
        """One processor's published status."""
        return f"{self.pipeline}:id:{name}"

    def lua(self) -> dict[str, Any]:
        """The layout as the Lua scripts take it: fixed keys by name, entity key prefixes by kind."""
        fixed = {k: v for k, v in vars(self).items() if k != "prefix"}
        return fixed | {
            "entity": {kind: self.entity(kind, "") for kind in self.KINDS},
            "track": self.track(""),
            "v_active_type": self.v_active_type(""),
        }


def entries(records: Iterable[tuple[str, Record]]) -> dict[str, list[list[Any]]]:
    """Group records by entity kind in the shape the Lua script takes.

    Values travel as JSON numbers and strings; Lua formats numbers the same way (Lua 5.1,
    ``%.14g``) on Redis and on the embedded store, so both hold the same text. A record without
    a position (a GPS fix without a location) travels with null coordinates. ``clock_skew_s``
    is always sent (0: the device's clock was within tolerance) so that a stale skew never
    outlives the event that had it.
    """
    batch: dict[str, list[list[Any]]] = {"v": [], "t": [], "w": [], "i": []}
    types = _TYPES
    for stream, rec in records:
        kind, id_field = ENTITY[stream]
        fields = rec.copy()  # a C-level copy and a few deletes beat filtering every key
        del fields["event_id"], fields["device_id"], fields["event_time"], fields["ingest_time"]
        lat, lon = fields.pop("latitude", None), fields.pop("longitude", None)
        fields.pop("device_time", None)  # ts + clock_skew_s says it
        fields["clock_skew_s"] = fields.get("clock_skew_s") or 0
        extra = fields.get("extra")
        if extra is not None and len(extra) > EXTRA_BYTES:
            fields["extra"] = bounded_extra(extra)
        entry = [rec[id_field], int(rec["event_time"].timestamp() * 1000), lat, lon, fields]
        if kind == "v":
            fields["src"] = _SOURCE[stream]
            vtype = fields.get("vehicle_type")
            if vtype is not None and vtype not in types:
                # other simulators' GPS says e.g. "private": keep it, but not as our vehicle type
                fields["vehicle_class"] = fields.pop("vehicle_type")
                vtype = None
            entry.append(vtype or "")
        batch[kind].append(entry)
    return batch


def bounded_extra(text: str, limit: int = EXTRA_BYTES) -> str:
    """``text`` (a JSON object) cut to its first fields that fit in ``limit`` bytes, with
    ``"_more"``: how many were left out."""
    fields: dict[str, Any] = orjson.loads(text)
    kept: dict[str, Any] = {}
    size = len('{"_more":000000}')
    for key, value in fields.items():
        item = len(orjson.dumps({key: value})) - 1  # '"key":value,' less the braces, plus a comma
        if size + item > limit:
            break
        kept[key] = value
        size += item
    kept["_more"] = len(fields) - len(kept)
    return orjson.dumps(kept).decode()


def dead_letter_entries(letters: Sequence[DeadLetter], keep: int, raw_chars: int) -> list[str]:
    """The newest ``keep`` dead letters as JSON strings, oldest first, raw payloads cut short."""
    return [
        orjson.dumps(
            {
                "stream": dl.stream,
                "reason": dl.reason,
                "source": dl.source,
                "received_ms": int(dl.received_at.timestamp() * 1000),
                "raw": dl.raw[:raw_chars],
            }
        ).decode()
        for dl in letters[-keep:]
    ]


@dataclass
class WriteResult:
    vehicles: int = 0
    traffic: int = 0
    weather: int = 0
    incidents: int = 0
    stale_removed: int = 0

    def add(self, counts: Sequence[int]) -> None:
        self.vehicles += int(counts[0])
        self.traffic += int(counts[1])
        self.weather += int(counts[2])
        self.incidents += int(counts[3])
        self.stale_removed += int(counts[4])


@dataclass(frozen=True)
class Chunk:
    """One script call of a write, encoded: what a writer keeps while Redis is away.

    ``streams``: how many valid events of each stream it carries (its dead letters are the
    console's copy only; the lake has every one)."""

    batch: bytes
    part: str
    streams: dict[str, int]

    @property
    def events(self) -> int:
        return sum(self.streams.values())


class SpeedLayer:
    """Writes micro-batches into Redis and reads the current state back."""

    def __init__(self, client: redis.Redis, prefix: str = "sc:", config: SpeedLayerConfig | None = None) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.config = config or SpeedLayerConfig()
        self._script = client.register_script(_LUA)
        self._rows_script = client.register_script(_ROWS_LUA)
        self._config_arg = self.config.as_lua()
        self._keys_arg = orjson.dumps(self.keys.lua())
        self._rows_arg = orjson.dumps(
            {"entity": self.keys.entity("v", ""), "active": self.keys.v_active} | live_model.rows_config()
        )

    # -- write side ------------------------------------------------------------------
    def write(self, records: Sequence[tuple[str, Record]], dead_letters: Sequence[DeadLetter] = ()) -> WriteResult:
        """Apply validated ``(stream, record)`` pairs and note the batch's newest dead letters
        (with the last call: no extra round trip); raises redis errors to the caller."""
        result = WriteResult()
        for chunk in self.encode(records, dead_letters):
            result.add(self.apply(chunk))
        return result

    def encode(self, records: Sequence[tuple[str, Record]], dead_letters: Sequence[DeadLetter] = ()) -> list[Chunk]:
        """The script calls that write ``records`` (``config.chunk`` entities each, so Redis is
        never blocked for long), the batch's newest dead letters riding with the last one."""
        step = self.config.chunk
        starts = range(0, len(records), step) if records else range(1 if dead_letters else 0)
        write_id = uuid.uuid4().hex[:16] if len(starts) > 1 else ""
        chunks = []
        for start in starts:
            part_records = records[start : start + step]
            batch: dict[str, Any] = entries(part_records)
            last = start + step >= len(records)
            if last and dead_letters:
                cfg = self.config
                batch["d"] = dead_letter_entries(dead_letters, cfg.dead_letters_kept, cfg.dead_letter_raw_chars)
            part = f"{write_id}:{'last' if last else 'more'}" if write_id else ""
            chunks.append(Chunk(orjson.dumps(batch), part, dict(Counter(stream for stream, _ in part_records))))
        return chunks

    def apply(self, chunk: Chunk) -> list[int]:
        """Run one encoded call; returns the entities changed per kind (see the script)."""
        counts: list[int] = self._script(args=[self._keys_arg, chunk.batch, self._config_arg, chunk.part])
        return counts

    def annotate_incident(self, incident_id: str, fields: dict[str, str]) -> bool:
        """Merge operators' ``fields`` (e.g. who acknowledged it, and when) into an incident,
        through the script like every write of the city's state (with its change notification);
        False when the speed layer holds no such incident."""
        batch = orjson.dumps({"a": [[incident_id, fields]]})
        counts: list[int] = self._script(args=[self._keys_arg, batch, self._config_arg, ""])
        return int(counts[3]) > 0

    def publish_status(self, name: str, status: dict[str, Any], ttl_s: float, keep_gone_s: float) -> None:
        """Store one processor's status under ``<prefix>pipeline:<name>`` for ``ttl_s``, and
        index it in ``<prefix>pipeline`` (scored by publish time, pruned after ``keep_gone_s``)
        so that readers find every processor, and the ones that went quiet, without a scan."""
        now_ms = int(time.time() * 1000)
        key = self.keys.status(name)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping={"status": orjson.dumps(status), "published_ms": now_ms})
        pipe.pexpire(key, int(ttl_s * 1000))
        pipe.zadd(self.keys.pipeline, {name: now_ms})
        pipe.zremrangebyscore(self.keys.pipeline, "-inf", f"({now_ms - int(keep_gone_s * 1000)}")
        pipe.execute()

    # -- read side (O(result)) ------------------------------------------------------------
    def vehicle(self, vehicle_id: str) -> dict[str, Any] | None:
        """Latest state of one vehicle with its recent track: [lat, lon, ts_ms], newest first."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.keys.entity("v", vehicle_id))
        pipe.lrange(self.keys.track(vehicle_id), 0, -1)
        raw, track = pipe.execute()
        if not raw:
            return None
        state = _decode(raw)
        state["track"] = [_point(p) for p in track]
        return state

    def vehicle_rows(self, ids: Sequence[str] | None = None, limit: int = 1_000_000) -> bytes:
        """Map rows (columns ``VEHICLE_ROW``) as one JSON array, built inside Redis in one call.

        ``ids=None``: the active vehicles, most recently seen first, at most ``limit``. Callers
        that fan the same rows out to many clients forward these bytes without re-encoding.
        """
        if ids is not None and not ids:
            return b"[]"
        raw = self._rows_script(args=[self._rows_arg, limit, *(ids or ())])
        return raw if isinstance(raw, bytes) else str(raw).encode()

    def active_vehicle_ids(self, limit: int | None = None) -> list[str]:
        """Vehicles seen within the active window, most recent first."""
        args: dict[str, Any] = {"start": 0, "num": limit} if limit else {}
        ids = self.client.zrevrangebyscore(self.keys.v_active, "+inf", "-inf", **args)
        return [text(i) for i in ids]

    def active_count(self, vehicle_type: str | None = None) -> int:
        key = self.keys.v_active_type(vehicle_type) if vehicle_type else self.keys.v_active
        return int(self.client.zcard(key))

    def states(self, kind: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        """Hashes of the given entities (missing/expired ones skipped), in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for entity_id in ids:
            pipe.hgetall(self.keys.entity(kind, entity_id))
        return [_decode(raw) for raw in pipe.execute() if raw]

    def index_ids(self, kind: str) -> list[str]:
        """Ids in a sensor index ("t", "w") or the active incidents ("i")."""
        return [text(i) for i in self.client.zrange(self.keys.index(kind), 0, -1)]

    def resolved_incident_ids(self, limit: int = 100) -> list[str]:
        return [text(i) for i in self.client.zrevrange(self.keys.i_resolved, 0, limit - 1)]

    def summary(self) -> dict[str, Any]:
        """City summary: counts and the newest event time per kind (epoch ms)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zcard(self.keys.v_active)
        pipe.zcard(self.keys.i_active)
        pipe.zcount(self.keys.t_congestion, level_rank(CONGESTED_FROM), "+inf")
        pipe.zcard(self.keys.t_index)
        pipe.zcard(self.keys.w_index)
        pipe.hgetall(self.keys.summary)
        for vtype in VEHICLE_TYPES:
            pipe.zcard(self.keys.v_active_type(vtype))
        res = pipe.execute()
        last = {text(k): int(float(v)) for k, v in res[5].items()}
        return {
            "active_vehicles": int(res[0]),
            "active_incidents": int(res[1]),
            "congested_segments": int(res[2]),
            "traffic_sensors": int(res[3]),
            "weather_stations": int(res[4]),
            "vehicles_by_type": {t: int(n) for t, n in zip(VEHICLE_TYPES, res[6:], strict=True)},
            "last_event_ms": last,
        }

    def processor_statuses(self) -> list[dict[str, Any]]:
        """Every indexed processor: ``name``, ``published_ms`` and its ``status`` (None once its
        key expired: it stopped publishing), most recently published first."""
        names: list[Any] = self.client.zrevrange(self.keys.pipeline, 0, -1, withscores=True)
        pipe = self.client.pipeline(transaction=False)
        for name, _ in names:
            pipe.hget(self.keys.status(text(name)), "status")
        return [
            {"name": text(name), "published_ms": int(score), "status": orjson.loads(raw) if raw else None}
            for (name, score), raw in zip(names, pipe.execute(), strict=True)
        ]

    def dead_letters(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest dead letters (stream, reason, source, received_ms, raw cut short), newest first."""
        return [orjson.loads(raw) for raw in self.client.lrange(self.keys.deadletters, 0, limit - 1)]

    def snapshot(self) -> dict[str, Any]:
        """The whole current state, for tests and rebuild checks (O(state), not for requests)."""
        out: dict[str, Any] = {"vehicles": {}, "traffic": {}, "weather": {}, "incidents": {}}
        ids = {
            "vehicles": ("v", self.active_vehicle_ids()),
            "traffic": ("t", self.index_ids("t")),
            "weather": ("w", self.index_ids("w")),
            "incidents": ("i", self.index_ids("i") + self.resolved_incident_ids(10_000)),
        }
        for name, (kind, id_list) in ids.items():
            states = [self.vehicle(i) for i in id_list] if kind == "v" else self.states(kind, id_list)
            for state in states:
                if state:
                    out[name][state["id"]] = state
        return out


def text(value: Any) -> str:
    """A Redis reply as text (replies are bytes unless the client decodes them)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(raw: dict[Any, Any]) -> dict[str, Any]:
    return {text(k): text(v) for k, v in raw.items()}


def _point(raw: bytes | str) -> list[float]:
    lat, lon, ts = text(raw).split(",")
    return [float(lat), float(lon), int(ts)]
