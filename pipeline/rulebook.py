"""Zones and alert rules, stored in the speed layer's Redis and versioned.

Keys, all under the hash tag ``{rules}`` after the speed layer's prefix (one Redis Cluster slot,
so each change is one atomic script): ``<prefix>{rules}:zones`` (hash id -> GeoJSON Feature),
``<prefix>{rules}:rules`` (hash id -> rule), ``<prefix>{rules}:version`` (bumped by every change;
the rule engine reloads when it moves). The rule engine's state lives beside them
(``pipeline.rules``).

Zones are GeoJSON Features whose geometry is a Polygon in lon/lat with ``properties.name``,
checked with shapely: a valid, non-empty polygon of at most ``MAX_VERTICES`` vertices inside
lon/lat bounds. Rules are the alert contract's kinds; a zone kind's zone must exist, and a zone
a rule names cannot be deleted.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import shapely
from redis.cluster import RedisCluster
from shapely.geometry import shape
from shapely.validation import explain_validity

from pipeline.alerts import SEVERITIES
from pipeline.schemas import CONGESTION_LEVELS, VEHICLE_TYPES

ZONE_KINDS = ("zone_enter", "zone_exit", "speed_in_zone")
RULE_KINDS = (*ZONE_KINDS, "congestion", "aqi")
MAX_VERTICES = 1000  # per zone, holes included
MAX_ZONES = 1000
MAX_RULES = 1000
MAX_NAME = 100
MAX_MINUTES = 24 * 60


class RuleBookError(Exception):
    """A change refused: ``status`` 400 (invalid), 404 (no such thing) or 409 (in use)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleBookError(400, f"{what} must be a non-empty string")
    if len(value) > MAX_NAME:
        raise RuleBookError(400, f"{what} is longer than {MAX_NAME} characters")
    return value.strip()


def validate_zone(feature: Any) -> dict[str, Any]:
    """The zone as stored: ``{"type": "Feature", "geometry": Polygon, "properties": {"name"}}``;
    raises ``RuleBookError`` (400) with the reason."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise RuleBookError(400, "a zone is a GeoJSON Feature ({'type': 'Feature', 'geometry', 'properties'})")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise RuleBookError(400, "properties must be an object with a name")
    name = _name(props.get("name"), "properties.name")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        raise RuleBookError(400, "geometry must be a GeoJSON Polygon")
    rings = geometry.get("coordinates")
    if not isinstance(rings, list) or not rings or not all(isinstance(r, list) for r in rings):
        raise RuleBookError(400, "geometry.coordinates must be a list of rings")
    vertices = sum(len(r) for r in rings)
    if vertices > MAX_VERTICES:
        raise RuleBookError(400, f"the polygon has {vertices} vertices; at most {MAX_VERTICES}")
    clean: list[list[list[float]]] = []
    for ring in rings:
        points = []
        for pt in ring:
            if (not isinstance(pt, list) or len(pt) != 2
                    or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in pt)):  # fmt: skip
                raise RuleBookError(400, "each position is [longitude, latitude]")
            lon, lat = float(pt[0]), float(pt[1])
            if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
                raise RuleBookError(400, f"position {pt} is not a longitude in [-180, 180] and a latitude in [-90, 90]")
            points.append([lon, lat])
        if len(points) < 4 or points[0] != points[-1]:
            raise RuleBookError(400, "each ring needs at least 4 positions, the first repeated last")
        clean.append(points)
    try:
        polygon = shape({"type": "Polygon", "coordinates": clean})
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        raise RuleBookError(400, f"not a polygon: {exc}") from None
    if polygon.is_empty:
        raise RuleBookError(400, "the polygon is empty")
    if not polygon.is_valid:
        raise RuleBookError(400, f"the polygon is not valid: {explain_validity(polygon)}")
    if polygon.area == 0:
        raise RuleBookError(400, "the polygon has no area")
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": clean}, "properties": {"name": name}}


def _number(rule: dict[str, Any], key: str, low: float, high: float) -> float:
    value = rule.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise RuleBookError(400, f"{key} must be a number")
    if not low <= value <= high:
        raise RuleBookError(400, f"{key} must be between {low:g} and {high:g}")
    return float(value)


def validate_rule(rule: Any) -> dict[str, Any]:
    """The rule as stored (the zone's existence is checked when it is added); raises
    ``RuleBookError`` (400) with the reason."""
    if not isinstance(rule, dict):
        raise RuleBookError(400, "a rule is a JSON object")
    kind = rule.get("kind")
    if kind not in RULE_KINDS:
        raise RuleBookError(400, f"kind must be one of {', '.join(RULE_KINDS)}")
    severity = rule.get("severity", "medium")
    if severity not in SEVERITIES:
        raise RuleBookError(400, f"severity must be one of {', '.join(SEVERITIES)}")
    out: dict[str, Any] = {"name": _name(rule.get("name"), "name"), "kind": kind, "severity": severity}
    # every field given is checked, whatever the kind; those the kind has no use for are not kept
    zone = _name(rule["zone"], "zone (a zone id)") if rule.get("zone") is not None else None
    vehicle_type = rule.get("vehicle_type")
    if vehicle_type is not None and vehicle_type not in VEHICLE_TYPES:
        raise RuleBookError(400, f"vehicle_type must be one of {', '.join(VEHICLE_TYPES)}")
    high = {"speed_in_zone": 400, "congestion": len(CONGESTION_LEVELS) - 1, "aqi": 1000}.get(kind, 1000)
    threshold = _number(rule, "threshold", 0, high) if rule.get("threshold") is not None else None
    minutes = _number(rule, "minutes", 0, MAX_MINUTES) if rule.get("minutes") is not None else None
    if kind in ZONE_KINDS:
        if zone is None:
            raise RuleBookError(400, f"a {kind} rule needs a zone (a zone id)")
        out["zone"] = zone
        if vehicle_type is not None:
            out["vehicle_type"] = vehicle_type
    if kind in ("speed_in_zone", "congestion", "aqi"):
        if threshold is None:
            raise RuleBookError(400, f"a {kind} rule needs a threshold")
        out["threshold"] = threshold
    if kind == "congestion":
        out["minutes"] = minutes or 0.0
    return out


# KEYS: zones, rules, version. ARGV: id, zone JSON, max zones
_ADD_ZONE = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[3])
"""
# ARGV: id, rule JSON, its zone ('' for none), max rules
_ADD_RULE = """
if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[3]) == 0 then return -2 end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[3])
"""
# ARGV: zone id. -2: no such zone; -3: a rule uses it (its id in the second item)
_DELETE_ZONE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {-2, ''} end
local rules = redis.call('HGETALL', KEYS[2])
for i = 1, #rules, 2 do
  if cjson.decode(rules[i + 1])['zone'] == ARGV[1] then return {-3, rules[i]} end
end
redis.call('HDEL', KEYS[1], ARGV[1])
return {redis.call('INCR', KEYS[3]), ''}
"""
_DELETE_RULE = """
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return -2 end
return redis.call('INCR', KEYS[3])
"""


@dataclass(frozen=True)
class Book:
    """One version of the zones and rules (ids inside: ``properties.id``, ``id``)."""

    version: int
    zones: dict[str, dict[str, Any]]
    rules: dict[str, dict[str, Any]]


class RuleBook:
    """Zones and rules of one city (the speed layer's ``prefix``)."""

    def __init__(self, client: redis.Redis | RedisCluster, prefix: str = "sc:") -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"the rule book's prefix holds no brace: {prefix!r}")
        self.client = client
        self.base = base = f"{prefix}{{rules}}"
        self.zones_key, self.rules_key, self.version_key = f"{base}:zones", f"{base}:rules", f"{base}:version"
        self._keys = [self.zones_key, self.rules_key, self.version_key]
        self._add_zone = client.register_script(_ADD_ZONE)
        self._add_rule = client.register_script(_ADD_RULE)
        self._delete_zone = client.register_script(_DELETE_ZONE)
        self._delete_rule = client.register_script(_DELETE_RULE)

    def version(self) -> int:
        raw: Any = self.client.get(self.version_key)
        return int(raw or 0)

    def load(self) -> Book:
        """The current zones and rules, with their version (read in one round trip)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.version_key)
        pipe.hgetall(self.zones_key)
        pipe.hgetall(self.rules_key)
        version, zones, rules = pipe.execute()
        return Book(
            int(version or 0),
            {_text(k): _zone(_text(k), v) for k, v in zones.items()},
            {_text(k): {"id": _text(k), **orjson.loads(v)} for k, v in rules.items()},
        )

    def add_zone(self, feature: Any) -> tuple[str, int]:
        """Store a zone; returns its id and the new version. Raises ``RuleBookError``."""
        zone = validate_zone(feature)
        zone_id = f"z-{uuid.uuid4().hex[:12]}"
        version = int(self._add_zone(keys=self._keys, args=[zone_id, orjson.dumps(zone), MAX_ZONES]))
        if version == -1:
            raise RuleBookError(409, f"there are {MAX_ZONES} zones already: delete one first")
        return zone_id, version

    def delete_zone(self, zone_id: str) -> int:
        """Remove a zone no rule uses; returns the new version. Raises ``RuleBookError``."""
        version, rule = self._delete_zone(keys=self._keys, args=[zone_id])
        if version == -2:
            raise RuleBookError(404, f"no zone {zone_id!r}")
        if version == -3:
            raise RuleBookError(409, f"rule {_text(rule)!r} uses zone {zone_id!r}: delete the rule first")
        return int(version)

    def add_rule(self, rule: Any) -> tuple[str, int]:
        """Store a rule; returns its id and the new version. Raises ``RuleBookError``."""
        clean = validate_rule(rule)
        rule_id = f"r-{uuid.uuid4().hex[:12]}"
        args = [rule_id, orjson.dumps(clean), clean.get("zone", ""), MAX_RULES]
        version = int(self._add_rule(keys=self._keys, args=args))
        if version == -2:
            raise RuleBookError(400, f"no zone {clean['zone']!r}")
        if version == -1:
            raise RuleBookError(409, f"there are {MAX_RULES} rules already: delete one first")
        return rule_id, version

    def delete_rule(self, rule_id: str) -> int:
        version = int(self._delete_rule(keys=self._keys, args=[rule_id]))
        if version == -2:
            raise RuleBookError(404, f"no rule {rule_id!r}")
        return version


def _zone(zone_id: str, raw: bytes | str) -> dict[str, Any]:
    zone: dict[str, Any] = orjson.loads(raw)
    zone["properties"] = {**zone["properties"], "id": zone_id}
    return zone


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
