"""The console's and API's read side: the city's current state from the speed layer.

Every read is O(result): GEO searches, sorted-set ranges and one pipelined round trip
for the hashes. Values come back typed (numbers as numbers) for JSON.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
import redis
from redis.cluster import RedisCluster

from app.fleet import FleetCache
from app.webhooks import Webhooks
from pipeline.alerts import AlertLog
from pipeline.changes import ChangeFollower, own_connection
from pipeline.live_model import INTEGER, LEVELS, NUMERIC, VEHICLE_ROW, level_rank
from pipeline.rulebook import RuleBook
from pipeline.schemas import VEHICLE_TYPES
from pipeline.speed_layer import SpeedLayer, text


class Windows(NamedTuple):
    """The speed layer's time windows (event time, seconds): the one source of them is
    ``SpeedLayerConfig``."""

    active_s: float  # a vehicle unseen this long leaves the active set and the map
    sensor_s: float  # a sensor or station unseen this long leaves its index


@dataclass(frozen=True)
class BBox:
    """A latitude/longitude box: south, west, north, east."""

    south: float
    west: float
    north: float
    east: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        """``"south,west,north,east"`` in degrees; raises ValueError with the reason."""
        try:
            parts = [float(p) for p in text.split(",")]
        except ValueError:
            raise ValueError("bbox must be four numbers: south,west,north,east") from None
        if len(parts) != 4:
            raise ValueError("bbox must be south,west,north,east")
        box = cls(*parts)
        if not (-90 <= box.south < box.north <= 90 and -180 <= box.west < box.east <= 180):
            raise ValueError("bbox must satisfy -90 <= south < north <= 90 and -180 <= west < east <= 180")
        return box

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


def row_dict(row: list[Any]) -> dict[str, Any]:
    """One row of ``SpeedLayer.vehicle_rows`` as a dict (missing fields left out)."""
    return {k: v for k, v in zip(VEHICLE_ROW, row, strict=True) if v is not None}


def row_dicts(raw: bytes) -> list[dict[str, Any]]:
    """``SpeedLayer.vehicle_rows`` output as one dict per vehicle (missing fields left out)."""
    return [row_dict(row) for row in orjson.loads(raw)]


_LAT, _LON, _SPEED, _TYPE, _ROAD, _TS = (
    VEHICLE_ROW.index(k) for k in ("lat", "lon", "speed", "vehicle_type", "road_name", "ts")
)
PLATES_S = 60.0  # licence plates do not change: the finder reads them all at most this often


def _folded(text: str) -> str:
    """Text as the finder compares it: upper case, without spaces, dashes and dots."""
    return "".join(ch for ch in text.upper() if ch not in " -._")


def _rank(want: str, value: str) -> int | None:
    """0: equal, 1: starts with it, 2: contains it, None: no match."""
    if value == want:
        return 0
    if value.startswith(want):
        return 1
    return 2 if want in value else None


def typed(state: dict[str, Any]) -> dict[str, Any]:
    """Speed-layer strings to JSON types (numbers where the field is numeric, the extra fields
    the producer sent as the object they were)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key in NUMERIC and isinstance(value, str):
            number = float(value)
            out[key] = int(number) if key in INTEGER else number
        elif key == "extra" and isinstance(value, str):
            out[key] = orjson.loads(value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents a list shows: since a time (resolved ones by when they were resolved,
    active ones by when they were first seen), of a type, of a severity."""

    since_ms: int | None = None
    incident_type: str | None = None
    severity: str | None = None

    def empty(self) -> bool:
        return self.since_ms is None and self.incident_type is None and self.severity is None

    def accepts(self, state: dict[str, Any]) -> bool:
        if self.incident_type is not None and state.get("incident_type") != self.incident_type:
            return False
        if self.severity is not None and state.get("severity") != self.severity:
            return False
        if self.since_ms is not None:
            when = state.get("resolved_at") if state.get("status") == "Resolved" else state.get("first_seen")
            return when is not None and float(when) >= self.since_ms
        return True


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


class Store:
    """Reads the current state of the city."""

    def __init__(self, speed: SpeedLayer, fleet_cache_s: float = 0.0) -> None:
        """``fleet_cache_s`` > 0 serves vehicle lists from one in-process read of the whole
        active fleet, refreshed that often in the background (``FleetCache``): many map clients
        then cost one Redis round trip a second instead of one each (vehicles report about once
        a second), and no request waits for a read."""
        self.speed = speed
        self.client: redis.Redis | RedisCluster = speed.client
        self.keys = speed.keys
        self.fleet_cache_s = fleet_cache_s
        self._fleet = FleetCache(lambda: speed.vehicle_rows(limit=1_000_000), fleet_cache_s)
        self._plate_cache: tuple[dict[str, str], float] = ({}, 0.0)  # id -> plate, read at (monotonic)

    def vehicle_locations(
        self, bbox: BBox | None = None, vehicle_type: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Active vehicles (optionally in a box and of one type), most recently seen first."""
        if vehicle_type is not None and vehicle_type not in VEHICLE_TYPES:
            return []
        if self.fleet_cache_s > 0:
            rows, dicts = self._cached_fleet()
            out = []
            for i, row in enumerate(rows):
                if vehicle_type and row[_TYPE] != vehicle_type:
                    continue
                if bbox is None or bbox.contains(row[_LAT], row[_LON]):
                    state = dicts[i]
                    if state is None:  # two callers may both make it: harmless, equal dicts
                        state = dicts[i] = row_dict(row)
                    out.append(state)
                    if len(out) >= limit:
                        break
            return out
        return self._read_locations(bbox, vehicle_type, limit)

    def find_vehicles(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        """Active vehicles whose id, licence plate or road matches ``query`` (case, spaces and
        dashes ignored), best match first: an exact id or plate, then ones that start with it,
        then ones that contain it; each with ``match`` ("id", "plate" or "road") and its plate.
        The plates are read for the whole fleet at most every ``PLATES_S`` seconds."""
        want = _folded(query)
        if not want:
            return []
        rows = self._cached_fleet()[0] if self.fleet_cache_s > 0 else orjson.loads(self.speed.vehicle_rows())
        plates = self._plates([row[0] for row in rows])
        scored = []
        for row in rows:
            vid, plate = row[0], plates.get(row[0])
            fields = (("id", vid), ("plate", plate), ("road", row[_ROAD]))
            hits = [
                (rank * len(fields) + order, kind)
                for order, (kind, value) in enumerate(fields)
                if value and (rank := _rank(want, _folded(str(value)))) is not None
            ]
            if hits:
                score, kind = min(hits)
                scored.append((score, -(row[_TS] or 0), kind, row, plate))
        scored.sort(key=lambda hit: hit[:2])
        return [{**row_dict(row), "plate": plate, "match": kind} for _, _, kind, row, plate in scored[:limit]]

    def _plates(self, ids: list[str]) -> dict[str, str]:
        now = time.monotonic()
        known, at = self._plate_cache
        missing = [vid for vid in ids if vid not in known]
        if now - at > PLATES_S:
            missing, known = ids, {}
        if missing:
            read = self.speed.field_of("v", missing, "plate")
            known = {**known, **{vid: p for vid, p in zip(missing, read, strict=True) if p}}
            self._plate_cache = (known, now if len(missing) == len(ids) else at)
        return known

    def average_speed(self, limit: int = 5000) -> float | None:
        """Mean speed (km/h) of the ``limit`` most recently seen active vehicles; None if none."""
        if self.fleet_cache_s > 0:
            rows = self._cached_fleet()[0][:limit]
        else:
            rows = orjson.loads(self.speed.vehicle_rows(limit=limit))
        speeds = [float(r[_SPEED]) for r in rows if r[_SPEED] is not None]
        return round(sum(speeds) / len(speeds), 1) if speeds else None

    def _cached_fleet(self) -> tuple[list[list[Any]], list[dict[str, Any] | None]]:
        return self._fleet.rows()

    def _read_locations(self, bbox: BBox | None, vehicle_type: str | None, limit: int) -> list[dict[str, Any]]:
        if bbox is None and vehicle_type is None:
            return row_dicts(self.speed.vehicle_rows(limit=limit))
        if bbox is None:
            ids = self.speed.active_vehicle_ids(limit, vehicle_type)
        else:
            ids = self._in_box(bbox)
            if vehicle_type:
                ids = self.speed.vehicle_type_of(ids, vehicle_type)
        out = [v for v in self.vehicles(ids) if bbox is None or bbox.contains(v["lat"], v["lon"])]
        if bbox is not None:  # GEO answers by distance; callers get the newest first
            out.sort(key=lambda v: -v["ts"])
        return out[:limit]

    def vehicles(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """Map fields of the given vehicles in one call (expired ones skipped)."""
        return row_dicts(self.speed.vehicle_rows(list(ids)))

    def _in_box(self, bbox: BBox) -> list[str]:
        lat = (bbox.south + bbox.north) / 2
        lon = (bbox.west + bbox.east) / 2
        # GEO boxes are metric: cover the degree box generously, then filter exactly
        height_km = (bbox.north - bbox.south) * 111.32 + 0.01
        width_km = (bbox.east - bbox.west) * 111.32 + 0.01
        return self.speed.vehicles_near(lat, lon, width_km, height_km)

    def writer(self) -> SpeedLayer:
        """The speed layer's write side, for a processor running in this process (ingest without
        Kafka): it writes through the speed-layer script, as every processor does."""
        return self.speed

    def vehicle_rows(self, ids: Iterable[str] | None = None, limit: int = 1_000_000) -> bytes:
        """Map rows (``SpeedLayer.vehicle_rows``) as one JSON array: of ``ids``, or of the
        active vehicles, most recently seen first."""
        return self.speed.vehicle_rows(None if ids is None else list(ids), limit)

    def states(self, kind: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The given entities of ``kind`` (v, t, w, i), typed (missing/expired ones skipped)."""
        return [typed(s) for s in self.speed.states(kind, ids)]

    def follower(self) -> ChangeFollower:
        """A reader of the speed layer's change stream, from its newest entry."""
        return ChangeFollower(own_connection(self.speed.client), self.speed.change_streams())

    def vehicle(self, vehicle_id: str) -> dict[str, Any] | None:
        state = self.speed.vehicle(vehicle_id)
        return typed(state) if state else None

    def incidents(
        self, status: str = "active", limit: int = 200, where: IncidentFilter | None = None
    ) -> list[dict[str, Any]]:
        """Active incidents (oldest first), resolved ones (most recently resolved first), or both;
        only those ``where`` accepts when given (the speed layer lists resolved ones for
        ``SpeedLayerConfig.resolved_s``: older ones are in the lake)."""
        if where is None or where.empty():
            ids: list[str] = []
            if status in ("active", "all"):
                ids += self.speed.index_ids("i", limit)
            if status in ("resolved", "all"):
                ids += self.speed.resolved_incident_ids(limit)
            return [typed(s) for s in self.speed.states("i", ids[:limit])]
        out: list[dict[str, Any]] = []
        if status in ("active", "all"):
            out += self._matching(self.speed.index_ids("i"), where, limit)
        if status in ("resolved", "all") and len(out) < limit:
            resolved = self.speed.resolved_incident_ids(1_000_000, where.since_ms)
            out += self._matching(resolved, where, limit - len(out))
        return out

    def _matching(self, ids: list[str], where: IncidentFilter, limit: int, step: int = 500) -> list[dict[str, Any]]:
        """The first ``limit`` incidents of ``ids`` that ``where`` accepts, read ``step`` at a time."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), step):
            out += [s for s in map(typed, self.speed.states("i", ids[i : i + step])) if where.accepts(s)]
            if len(out) >= limit:
                break
        return out[:limit]

    def traffic(self) -> list[dict[str, Any]]:
        """Every reporting sensor, most congested first (then sensors of unknown level)."""
        rows = [typed(s) for s in self.speed.states("t", self.speed.index_ids("t"))]
        unknown = len(LEVELS)  # level_rank of a level the model does not know
        ranks = [(level_rank(r.get("congestion_level")), r["id"], r) for r in rows]
        ranks.sort(key=lambda x: (x[0] == unknown, -x[0], x[1]))
        return [r for _, _, r in ranks]

    def weather(self) -> list[dict[str, Any]]:
        return [typed(s) for s in self.speed.states("w", self.speed.index_ids("w"))]

    def summary(self) -> dict[str, Any]:
        return self.speed.summary()

    def windows(self) -> Windows:
        """The active and sensor windows the speed layer applies."""
        config = self.speed.config
        return Windows(config.active_s, config.sensor_s)

    def processors(self) -> list[dict[str, Any]]:
        """The processors' published statuses (``SpeedLayer.processor_statuses``)."""
        return self.speed.processor_statuses()

    def dead_letters(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest dead letters, newest first."""
        return self.speed.dead_letters(limit)

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        """One incident, active or resolved (None: unknown or expired)."""
        states = self.states("i", [incident_id])
        return states[0] if states else None

    def acknowledge(self, incident_id: str, user: str, at: str) -> bool:
        """Note on the incident that ``user`` acknowledged it ``at`` (ISO time), and a line of its
        history, through the speed-layer script; False when there is no such incident."""
        line = {"event": "acknowledged", "by": user, "at": _ms(at)}
        return self.speed.annotate_incident(incident_id, {"acknowledged_by": user, "acknowledged_at": at}, line)

    def assign(self, incident_id: str, assignee: str, user: str, at: str) -> bool:
        """Assign the incident to ``assignee`` (``user`` did, ``at``: ISO time), through the
        speed-layer script; False when there is no such incident."""
        line = {"event": "assigned", "by": user, "at": _ms(at), "to": assignee}
        return self.speed.annotate_incident(incident_id, {"assigned_to": assignee, "assigned_at": at}, line)

    def note(self, incident_id: str, note: str, user: str, at: str) -> bool:
        """Add ``user``'s note to the incident's history, through the speed-layer script; False
        when there is no such incident."""
        return self.speed.annotate_incident(
            incident_id, {}, {"event": "noted", "by": user, "at": _ms(at), "text": note}
        )

    def incident_history(self, incident_id: str) -> list[dict[str, Any]]:
        """The incident's history, oldest first: ``event``, ``by``, ``at`` (ISO time) and what
        the event carries (``to``: the assignee, ``text``: a note)."""
        return [
            {**line, "at": datetime.fromtimestamp(int(line["at"]) / 1000, UTC).isoformat(timespec="milliseconds")}
            for line in self.speed.incident_log(incident_id)
        ]

    def audit(self, entry: dict[str, str], maxlen: int) -> None:
        """Add one operator action to the audit log (a capped stream beside the speed layer's
        state, not part of it: nothing the console shows live is derived from it)."""
        fields: dict[Any, Any] = dict(entry)
        self.client.xadd(self.keys.audit, fields, maxlen=maxlen, approximate=True)

    def audit_log(self, limit: int) -> list[dict[str, str]]:
        """The newest ``limit`` operator actions, newest first."""
        entries: Any = self.client.xrevrange(self.keys.audit, count=limit)
        return [{text(k): text(v) for k, v in fields.items()} for _, fields in entries]

    def rule_book(self) -> RuleBook:
        """The city's zones and alert rules, beside the speed layer (under its prefix)."""
        return RuleBook(self.client, self.keys.prefix)

    def alert_log(self, prefix: str = "") -> AlertLog:
        """The alert inbox (``prefix`` before its ``{alerts}`` keys: ``SMARTCITY_ALERTS_PREFIX``)."""
        return AlertLog(self.client, prefix)

    def webhooks(self) -> Webhooks:
        """The webhooks, kept beside the speed layer under a hash tag of their own (``app.webhooks``)."""
        return Webhooks(self.client)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False
