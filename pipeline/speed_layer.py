"""Speed layer: the current state of the city in Redis.

``SpeedLayer.write`` folds a micro-batch of validated records into Redis with one
Lua script call per chunk (``speed_layer.lua``): atomic, order-safe (older events
never overwrite newer state) and idempotent (replaying a batch changes nothing).
The same class runs against a real Redis and the embedded in-process store, and
from Spark executors. The read helpers are O(result): sorted sets, GEO, hashes.
Beside the city's state it keeps what the console needs to judge the pipeline: each batch's
newest dead letters (written by the same script call) and the processors' published statuses.

Shards: the state is split into ``shards`` parts by entity id (``crc32(id) % shards``), each
with its own indexes, summary counters and change stream, all its keys carrying the shard's hash
tag (``<prefix>{<tag>}...``) so that every key of a shard lives in one Redis Cluster slot. A
write is one script call (or a few, of ``config.chunk`` entities) per shard, each touching one
slot; a read of one entity goes to its shard, lists and counts read every shard and merge. One
shard (the default on a single Redis) keeps the untagged layout; a cluster client defaults to
``CLUSTER_SHARDS``. Every process reading or writing one speed layer must use the same count.
"""

from __future__ import annotations

import heapq
import itertools
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
import redis
from redis.cluster import RedisCluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

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
# Shards on a Redis Cluster unless told otherwise: four per master of a 3-master cluster, so
# that a cluster grown to 4, 6 or 12 masters still spreads them evenly by moving slots.
CLUSTER_SHARDS = 12


@dataclass(frozen=True)
class SpeedLayerConfig:
    """Retention rules of the speed layer (all in event time)."""

    ttl_s: float = 3600.0  # vehicle/sensor hashes expire after this long without updates
    active_s: float = 120.0  # a vehicle unseen this long leaves the active set and the map
    sensor_s: float = 900.0  # a sensor/station unseen this long leaves its index
    track_len: int = 30  # recent positions kept per vehicle
    resolved_s: float = 86_400.0  # resolved incidents stay listed this long
    incident_log_len: int = 200  # lines of history kept per incident (notes among them)
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
                "incident_log_len": self.incident_log_len,
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
    for an entity's hash, ``<prefix>v:track:<id>`` for a vehicle's recent positions and
    ``<prefix>i:log:<id>`` for an incident's history. Every index key is ``<prefix><kind>:<name>``
    with a fixed name that is never ``id``, ``track`` or ``log``, so no id can name or collide
    with an index, another entity or another kind.

    One shard's layout: with a ``tag`` every key starts ``<prefix>{<tag>}`` (one cluster slot for
    the whole shard; Redis hashes only the first ``{...}``, so the prefix holds no brace).
    """

    KINDS = ("v", "t", "w", "i")

    def __init__(self, prefix: str = "sc:", tag: str | None = None) -> None:
        if tag is not None and ("{" in prefix or "}" in prefix):
            raise ValueError(f"a sharded speed layer's key prefix holds no brace: {prefix!r}")
        self.prefix = prefix
        self.tag = tag
        self.base = p = prefix if tag is None else f"{prefix}{{{tag}}}"
        self.v_geo, self.v_active = f"{p}v:geo", f"{p}v:active"
        self.t_geo, self.t_index, self.t_congestion = f"{p}t:geo", f"{p}t:index", f"{p}t:congestion"
        self.w_geo, self.w_index = f"{p}w:geo", f"{p}w:index"
        self.i_geo, self.i_active, self.i_resolved = f"{p}i:geo", f"{p}i:active", f"{p}i:resolved"
        self.summary, self.changes, self.deadletters = f"{p}summary", f"{p}changes", f"{p}deadletters"
        self.audit, self.pipeline = f"{p}audit", f"{p}pipeline"

    def entity(self, kind: str, entity_id: str) -> str:
        """The hash of one vehicle (v), traffic sensor (t), weather station (w) or incident (i)."""
        return f"{self.base}{kind}:id:{entity_id}"

    def track(self, vehicle_id: str) -> str:
        """A vehicle's recent positions, newest first."""
        return f"{self.base}v:track:{vehicle_id}"

    def incident_log(self, incident_id: str) -> str:
        """An incident's history: JSON lines, newest first (``speed_layer.lua`` writes them)."""
        return f"{self.base}i:log:{incident_id}"

    def index(self, kind: str) -> str:
        """The ids of the reporting sensors (t, w) or the active incidents (i), by event time."""
        return self.i_active if kind == "i" else f"{self.base}{kind}:index"

    def v_active_type(self, vehicle_type: str) -> str:
        """The active vehicles of one type (types are ``VEHICLE_TYPES`` only, never an id)."""
        return f"{self.v_active}:{vehicle_type}"

    def status(self, name: str) -> str:
        """One processor's published status."""
        return f"{self.pipeline}:id:{name}"

    def lua(self) -> dict[str, Any]:
        """The layout as the Lua scripts take it: fixed keys by name, entity key prefixes by kind."""
        fixed = {k: v for k, v in vars(self).items() if k not in ("prefix", "tag", "base")}
        return fixed | {
            "entity": {kind: self.entity(kind, "") for kind in self.KINDS},
            "track": self.track(""),
            "log": self.incident_log(""),
            "v_active_type": self.v_active_type(""),
        }


def shard_tags(shards: int) -> list[str]:
    """One hash tag per shard, spreading the shards evenly over the cluster's slots: shard ``s``
    gets the first of ``s``, ``s.1``, ``s.2``... hashing into the ``s``-th of ``shards`` equal slot
    ranges, so the masters of a cluster created with equal slot ranges (``redis-cli --cluster
    create``) hold equal numbers of shards. Plain numbers hashed unevenly: 4/5/3 of 12 shards."""
    tags = []
    for s in range(shards):
        low, high = s * REDIS_CLUSTER_HASH_SLOTS // shards, (s + 1) * REDIS_CLUSTER_HASH_SLOTS // shards
        for j in itertools.count():
            tag = f"{s}.{j}" if j else str(s)
            if low <= key_slot(tag.encode()) < high:
                tags.append(tag)
                break
    return tags


def shard_of(entity_id: str, shards: int) -> int:
    """The shard holding an entity (every kind alike)."""
    return zlib.crc32(entity_id.encode("utf-8", "surrogatepass")) % shards if shards > 1 else 0


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
        elif kind == "i":
            entry.append(rec["device_id"])  # who sent it: its history's "by"
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
    console's copy only; the lake has every one); ``shard``: the shard it writes."""

    batch: bytes
    part: str
    streams: dict[str, int]
    shard: int = 0

    @property
    def events(self) -> int:
        return sum(self.streams.values())


class SpeedLayer:
    """Writes micro-batches into Redis and reads the current state back."""

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        prefix: str = "sc:",
        config: SpeedLayerConfig | None = None,
        shards: int | None = None,
    ) -> None:
        """``shards``: how many parts the state is split into (see the module's docstring);
        None: 1 on a single Redis, ``CLUSTER_SHARDS`` on a Redis Cluster."""
        self.client = client
        self.cluster = isinstance(client, RedisCluster)
        self.shards = shards or (CLUSTER_SHARDS if self.cluster else 1)
        tagged = self.cluster or self.shards > 1
        tags: list[str | None] = list(shard_tags(self.shards)) if tagged else [None]
        self.shard_keys = [Keys(prefix, tag) for tag in tags]
        # shard 0 also holds what belongs to no entity: dead letters, statuses, the audit log
        self.keys = self.shard_keys[0]
        self.config = config or SpeedLayerConfig()
        self._script = client.register_script(_LUA)
        self._rows_script = client.register_script(_ROWS_LUA)
        self._config_arg = self.config.as_lua()
        self._keys_args = [orjson.dumps(k.lua()) for k in self.shard_keys]
        self._rows_args = [
            orjson.dumps({"entity": k.entity("v", ""), "active": k.v_active} | live_model.rows_config())
            for k in self.shard_keys
        ]

    def shard(self, entity_id: str) -> int:
        return shard_of(entity_id, self.shards)

    def keys_of(self, entity_id: str) -> Keys:
        """The key layout of the shard holding ``entity_id``."""
        return self.shard_keys[shard_of(entity_id, self.shards)]

    # -- write side ------------------------------------------------------------------
    def write(self, records: Sequence[tuple[str, Record]], dead_letters: Sequence[DeadLetter] = ()) -> WriteResult:
        """Apply validated ``(stream, record)`` pairs and note the batch's newest dead letters
        (with the last call: no extra round trip); raises redis errors to the caller."""
        result = WriteResult()
        for chunk in self.encode(records, dead_letters):
            result.add(self.apply(chunk))
        return result

    def encode(self, records: Sequence[tuple[str, Record]], dead_letters: Sequence[DeadLetter] = ()) -> list[Chunk]:
        """The script calls that write ``records``: per shard, ``config.chunk`` entities each (so
        Redis is never blocked for long), shard 0 last with the batch's newest dead letters.

        With several shards every shard gets a call (an empty one when none of its entities is
        in the batch) carrying the batch's newest event time per kind: each shard's windows
        (active vehicles, sensors, resolved incidents) then move as one store's would."""
        if not records and not dead_letters:
            return []
        step = self.config.chunk
        if self.shards == 1:
            parts: list[tuple[int, Sequence[tuple[str, Record]]]] = [(0, records)]
            marks: dict[str, int] | None = None
        else:
            split: list[list[tuple[str, Record]]] = [[] for _ in range(self.shards)]
            for item in records:
                split[shard_of(item[1][ENTITY[item[0]][1]], self.shards)].append(item)
            parts = [(s, split[s]) for s in (*range(1, self.shards), 0)] if records else [(0, [])]
            marks = newest_times(records)
        calls = [(s, part[i : i + step]) for s, part in parts for i in (range(0, len(part), step) or range(1))]
        write_id = uuid.uuid4().hex[:16] if len(calls) > 1 else ""
        chunks = []
        for n, (s, part_records) in enumerate(calls):
            batch: dict[str, Any] = entries(part_records)
            last = n == len(calls) - 1
            if last and dead_letters:
                cfg = self.config
                batch["d"] = dead_letter_entries(dead_letters, cfg.dead_letters_kept, cfg.dead_letter_raw_chars)
            if marks:
                batch["m"] = marks
            part = f"{write_id}:{'last' if last else 'more'}" if write_id else ""
            streams = dict(Counter(stream for stream, _ in part_records))
            chunks.append(Chunk(orjson.dumps(batch), part, streams, s))
        return chunks

    def apply(self, chunk: Chunk) -> list[int]:
        """Run one encoded call; returns the entities changed per kind (see the script)."""
        keys = self.shard_keys[chunk.shard]
        counts: list[int] = self._script(
            keys=[keys.summary], args=[self._keys_args[chunk.shard], chunk.batch, self._config_arg, chunk.part]
        )
        return counts

    def annotate_incident(self, incident_id: str, fields: dict[str, str], line: dict[str, Any] | None = None) -> bool:
        """Merge operators' ``fields`` (e.g. who acknowledged it, and when) into an incident and
        add ``line`` to its history, through the script like every write of the city's state (with
        its change notification); False when the speed layer holds no such incident."""
        s = self.shard(incident_id)
        batch = orjson.dumps({"a": [[incident_id, fields, None if line is None else orjson.dumps(line).decode()]]})
        counts: list[int] = self._script(
            keys=[self.shard_keys[s].summary], args=[self._keys_args[s], batch, self._config_arg, ""]
        )
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
    def each_shard(self, command: Callable[[Any, Keys], Any]) -> list[Any]:
        """``command(pipeline, keys)`` for every shard, in one pipelined round trip (per node on
        a cluster); the replies in shard order."""
        pipe = self.client.pipeline(transaction=False)
        for keys in self.shard_keys:
            command(pipe, keys)
        return list(pipe.execute())

    def vehicle(self, vehicle_id: str) -> dict[str, Any] | None:
        """Latest state of one vehicle with its recent track: [lat, lon, ts_ms], newest first."""
        keys = self.keys_of(vehicle_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.entity("v", vehicle_id))
        pipe.lrange(keys.track(vehicle_id), 0, -1)
        raw, track = pipe.execute()
        if not raw:
            return None
        state = _decode(raw)
        state["track"] = [_point(p) for p in track]
        return state

    def vehicle_rows(self, ids: Sequence[str] | None = None, limit: int = 1_000_000) -> bytes:
        """Map rows (columns ``VEHICLE_ROW``) as one JSON array, built inside Redis, one call
        per shard.

        ``ids=None``: the active vehicles, most recently seen first, at most ``limit``. Callers
        that fan the same rows out to many clients forward these bytes without re-encoding.
        """
        if ids is not None and not ids:
            return b"[]"
        if self.shards == 1:
            return self._rows(0, limit, ids or ())
        if ids is None:
            parts = [orjson.loads(self._rows(s, limit, ())) for s in range(self.shards)]
            newest = heapq.merge(*parts, key=lambda row: -(row[_ROW_TS] or 0))
            return orjson.dumps(list(itertools.islice(newest, limit)))
        by_shard: dict[int, list[str]] = {}
        for vid in ids:
            by_shard.setdefault(self.shard(vid), []).append(vid)
        found = {row[0]: row for s, part in by_shard.items() for row in orjson.loads(self._rows(s, limit, part))}
        return orjson.dumps([found[vid] for vid in ids if vid in found])

    def _rows(self, shard: int, limit: int, ids: Sequence[str]) -> bytes:
        keys = self.shard_keys[shard]
        raw = self._rows_script(keys=[keys.v_active], args=[self._rows_args[shard], limit, *ids])
        return raw if isinstance(raw, bytes) else str(raw).encode()

    def active_vehicle_ids(self, limit: int | None = None, vehicle_type: str | None = None) -> list[str]:
        """Vehicles seen within the active window (of one type), most recent first."""
        args: dict[str, Any] = {"start": 0, "num": limit} if limit else {}

        def newest(pipe: Any, keys: Keys) -> None:
            index = keys.v_active_type(vehicle_type) if vehicle_type else keys.v_active
            pipe.zrevrangebyscore(index, "+inf", "-inf", withscores=True, **args)

        return _merged(self.each_shard(newest), reverse=True, limit=limit)

    def active_count(self, vehicle_type: str | None = None) -> int:
        def count(pipe: Any, keys: Keys) -> None:
            pipe.zcard(keys.v_active_type(vehicle_type) if vehicle_type else keys.v_active)

        return sum(int(n) for n in self.each_shard(count))

    def vehicle_type_of(self, vehicle_ids: Sequence[str], vehicle_type: str) -> list[str]:
        """Those of ``vehicle_ids`` that are active vehicles of ``vehicle_type``, in order."""
        pipe = self.client.pipeline(transaction=False)
        for vid in vehicle_ids:
            pipe.zscore(self.keys_of(vid).v_active_type(vehicle_type), vid)
        return [vid for vid, score in zip(vehicle_ids, pipe.execute(), strict=True) if score is not None]

    def vehicles_near(self, lat: float, lon: float, width_km: float, height_km: float) -> list[str]:
        """Ids of the vehicles on the map within a box (metric: GEO boxes are), every shard's."""

        def search(pipe: Any, keys: Keys) -> None:
            pipe.geosearch(keys.v_geo, longitude=lon, latitude=lat, width=width_km, height=height_km, unit="km")

        return [text(i) for found in self.each_shard(search) for i in found]

    def states(self, kind: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        """Hashes of the given entities (missing/expired ones skipped), in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for entity_id in ids:
            pipe.hgetall(self.keys_of(entity_id).entity(kind, entity_id))
        return [_decode(raw) for raw in pipe.execute() if raw]

    def field_of(self, kind: str, ids: Sequence[str], name: str) -> list[str | None]:
        """One field of each of the given entities (None where missing), in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for entity_id in ids:
            pipe.hget(self.keys_of(entity_id).entity(kind, entity_id), name)
        return [None if raw is None else text(raw) for raw in pipe.execute()]

    def incident_log(self, incident_id: str) -> list[dict[str, Any]]:
        """An incident's history, oldest first: ``{"event", "by", "at"}`` (epoch ms) and what the
        event carries (``to``: the assignee, ``text``: a note)."""
        lines = self.client.lrange(self.keys_of(incident_id).incident_log(incident_id), 0, -1)
        return [orjson.loads(line) for line in reversed(lines)]

    def index_ids(self, kind: str, limit: int | None = None) -> list[str]:
        """Ids in a sensor index ("t", "w") or the active incidents ("i"), oldest first."""
        end = limit - 1 if limit else -1
        replies = self.each_shard(lambda pipe, keys: pipe.zrange(keys.index(kind), 0, end, withscores=True))
        return _merged(replies, reverse=False, limit=limit)

    def resolved_incident_ids(self, limit: int = 100, since_ms: int | None = None) -> list[str]:
        """Resolved incidents still listed, most recently resolved first (resolved at or after
        ``since_ms`` when given)."""
        low = "-inf" if since_ms is None else since_ms
        replies = self.each_shard(
            lambda pipe, keys: pipe.zrevrangebyscore(keys.i_resolved, "+inf", low, start=0, num=limit, withscores=True)
        )
        return _merged(replies, reverse=True, limit=limit)

    def summary(self) -> dict[str, Any]:
        """City summary: counts and the newest event time per kind (epoch ms)."""

        def counts(pipe: Any, keys: Keys) -> None:
            pipe.zcard(keys.v_active)
            pipe.zcard(keys.i_active)
            pipe.zcount(keys.t_congestion, level_rank(CONGESTED_FROM), "+inf")
            pipe.zcard(keys.t_index)
            pipe.zcard(keys.w_index)
            pipe.hgetall(keys.summary)
            for vtype in VEHICLE_TYPES:
                pipe.zcard(keys.v_active_type(vtype))

        replies = self.each_shard(counts)
        width = len(replies) // self.shards
        shards = [replies[i : i + width] for i in range(0, len(replies), width)]
        last: dict[str, int] = {}
        for res in shards:
            for k, v in res[5].items():
                last[text(k)] = max(last.get(text(k), 0), int(float(v)))

        def total(i: int) -> int:
            return sum(int(res[i]) for res in shards)

        return {
            "active_vehicles": total(0),
            "active_incidents": total(1),
            "congested_segments": total(2),
            "traffic_sensors": total(3),
            "weather_stations": total(4),
            "vehicles_by_type": {t: total(6 + n) for n, t in enumerate(VEHICLE_TYPES)},
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

    def change_streams(self) -> list[str]:
        """Every shard's change stream (``pipeline.changes`` reads them)."""
        return [keys.changes for keys in self.shard_keys]

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


_ROW_TS = VEHICLE_ROW.index("ts")


def newest_times(records: Sequence[tuple[str, Record]]) -> dict[str, int]:
    """The newest event time (epoch ms) per entity kind in ``records``."""
    newest: dict[str, int] = {}
    for stream, rec in records:
        kind = ENTITY[stream][0]
        ts = int(rec["event_time"].timestamp() * 1000)
        if ts > newest.get(kind, 0):
            newest[kind] = ts
    return newest


def _merged(replies: list[Any], reverse: bool, limit: int | None) -> list[str]:
    """Members of several ``(member, score)`` replies, each sorted by score, merged in score order."""
    if len(replies) == 1:
        members = [text(m) for m, _ in replies[0]]
    else:
        merged = heapq.merge(*replies, key=lambda pair: pair[1], reverse=reverse)
        members = [text(m) for m, _ in merged]
    return members[:limit] if limit else members


def text(value: Any) -> str:
    """A Redis reply as text (replies are bytes unless the client decodes them)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(raw: dict[Any, Any]) -> dict[str, Any]:
    return {text(k): text(v) for k, v in raw.items()}


def _point(raw: bytes | str) -> list[float]:
    lat, lon, ts = text(raw).split(",")
    return [float(lat), float(lon), int(ts)]
