"""One batch's evaluation by the rule engine (``pipeline.rules``): plan what state to read, read
it, run the rules, write what changed. Per vehicle, the batch's events are grouped with numpy, and
a vehicle still in the same zones as its state says (no crossing, no speed rule changing its mind)
costs a few comparisons; only the others are taken event by event.

State that must outlive a batch and a process (which zones each vehicle is in, since when each
segment has been congested, which rule already fired for which entity) lives in Redis beside the
rule book, under its ``{rules}`` hash tag: read once per batch (one script call,
``rule_state_read.lua``) and written once (another, ``rule_state_write.lua``), so a restarted
processor or a second Spark executor carries on.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter, methodcaller
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from pipeline.alerts import make_alert
from pipeline.compiled_book import Compiled
from pipeline.live_model import LEVELS, level_rank
from pipeline.schemas import SEVERITIES
from pipeline.validation import Record

if TYPE_CHECKING:
    from pipeline.rules import RuleEngine

INCIDENTS_KEPT = 100_000  # incidents remembered as alerted (beyond: the alert log's own ids still dedupe)
PARKED_KEPT = 100_000  # vehicles forgotten while in a zone whose zones are kept (beyond: the longest silent go)
SEP = "\x1f"  # between a rule id and an entity id in a state field (neither holds it in practice)
LIST = "\x1e"  # between the items of a list in a state


def alert_id(*parts: str) -> str:
    """The deterministic id of an alert: sha1 of its parts, hex, 20 characters."""
    return hashlib.sha1(SEP.join(parts).encode(), usedforsecurity=False).hexdigest()[:20]


class Batch:
    """One batch's evaluation: plan what state to read, read it, run, write it."""

    def __init__(self, engine: RuleEngine, book: Compiled) -> None:
        self.e = engine
        self.book = book
        self.hits: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.vehicles: list[Record] = []
        self.codes: list[int] = []  # per vehicle event: its zones, as an index into ``sets``
        self.sets: list[frozenset[int]] = []
        self.first: dict[str, int] = {}  # vehicle -> its rank (the batch's vehicles, by first event)
        self.names: list[str] = []  # the same vehicles, in that order
        self.watching: dict[int, list[dict[str, Any]]] = {}  # a zone code -> the speed rules of its zones
        self.order: list[int] = []  # the vehicle events' indexes, grouped by vehicle (in batch order within)
        self.bounds: list[int] = []  # where each vehicle's group starts in ``order``, then the end
        self.high: list[int] = []  # per vehicle: its events' highest zone code (0: none in a zone)
        self.grouped_order = np.empty(0, np.intp)  # ``order`` as an array, and the codes in its order
        self.grouped_codes = np.empty(0, np.intp)
        self.window = 0  # the newest vehicle event's window (``RuleEngine.window_ms``), 0: none
        self.by_segment: dict[str, list[Record]] = {}
        self.by_station: dict[str, list[Record]] = {}
        self.incidents: dict[str, Record] = {}
        self.latch_fields: list[str] = []
        self.congestion_fields: list[str] = []
        self.inside: dict[str, str] = {}  # vehicle -> its state (``_vehicles``)
        self.states: list[str | None] = []  # the same, per vehicle in ``first`` order (None: none)
        self.latched: dict[str, str] = {}
        self.congested: dict[str, Any] = {}
        self.incident_known: dict[str, bool] = {}
        # (vehicle, its state as read, its new state or None): written only where still as read
        self.inside_changes: list[tuple[str, str | None, str | None]] = []
        self.set_latch: dict[str, str] = {}
        self.del_latch: set[str] = set()
        self.set_congestion: dict[str, bytes] = {}
        self.del_congestion: set[str] = set()
        self.new_incidents: dict[str, int] = {}

    def plan(self, vehicles: list[Record], traffic: Sequence[Record], weather: Sequence[Record],
             incidents: list[Record]) -> None:  # fmt: skip
        book = self.book
        if vehicles and book.tree is not None:
            n = len(vehicles)
            lons = np.fromiter(map(itemgetter("longitude"), vehicles), float, n)
            lats = np.fromiter(map(itemgetter("latitude"), vehicles), float, n)
            codes, self.sets = book.zone_codes(lons, lats)
            # each event's vehicle as its rank in the batch (by first event), then the events
            # grouped by it (a stable sort: batch order within a vehicle)
            ids = list(map(itemgetter("device_id"), vehicles))
            first = {vehicle: rank for rank, vehicle in enumerate(dict.fromkeys(ids))}
            group = np.fromiter(map(first.__getitem__, ids), np.intp, n)
            order = np.argsort(group, kind="stable")
            grouped = group[order]
            starts = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
            self.vehicles, self.codes, self.first, self.names = vehicles, codes.tolist(), first, list(first)
            self.order, self.bounds = order.tolist(), [*starts.tolist(), n]
            self.grouped_order, self.grouped_codes = order, codes[order]
            self.high = np.maximum.reduceat(self.grouped_codes, starts).tolist()
            if self.e.window_ms > 0:
                self.window = _ms(max(map(_EVENT_TIME, vehicles))) // self.e.window_ms
        for rec in traffic:
            self.by_segment.setdefault(rec.get("segment_id") or rec["camera_id"], []).append(rec)
        for segment in self.by_segment:
            self.congestion_fields += [f"{rule['id']}{SEP}{segment}" for rule in book.congestion]
        for rec in weather:
            self.by_station.setdefault(rec["device_id"], []).append(rec)
        for station in self.by_station:
            self.latch_fields += [f"{rule['id']}{SEP}{station}" for rule in book.aqi]
            self.latch_fields.append(f"advisory{SEP}{station}")
        for rec in incidents:
            self.incidents.setdefault(rec["incidentId"], rec)

    def read(self) -> None:
        """One script call: the state of the batch's vehicles, segments, stations and incidents
        (its arguments and answer one JSON text each: redis-py packs and parses thousands of
        fields slowly, ~2 us each without hiredis, measured)."""
        e = self.e
        vehicles = list(self.first)
        latch = list(dict.fromkeys(self.latch_fields))
        congestion = self.congestion_fields
        incidents = list(self.incidents)
        if not (vehicles or latch or congestion or incidents):
            return
        ask = orjson.dumps([vehicles, latch, congestion, incidents])
        raw: Any = e._read(keys=e.state_keys, args=[ask, self.window, PARKED_KEPT])
        got = [part if isinstance(part, list) else [] for part in orjson.loads(raw)]  # cjson: {} for []
        self.states = [state or None for state in got[0]] if vehicles else []
        self.inside = {v: state for v, state in zip(vehicles, self.states, strict=True) if state}
        self.latched = {f: value for f, value in zip(latch, got[1], strict=True) if value is not False}
        self.congested = {f: orjson.loads(value) for f, value in zip(congestion, got[2], strict=True) if value}
        self.incident_known = {i: score is not False for i, score in zip(incidents, got[3], strict=True)}

    def run(self) -> None:
        if self.first:
            self._vehicles()
        if self.by_segment:
            self._congestion()
        if self.by_station:
            self._weather()
        for incident_id, rec in self.incidents.items():
            if self.incident_known.get(incident_id):
                continue
            self.new_incidents[incident_id] = _ms(rec["event_time"])
            what = rec.get("incident_type") or "incident"
            text = f"{rec['severity']} {what} incident {incident_id}"
            if rec.get("description"):
                text += f": {rec['description']}"
            self._hit(f"incident:{incident_id}", "incident", rec["severity"], text[:300], rec, incident_id, None)

    def _hit(self, aid: str, kind: str, severity: str, message: str, rec: Record, entity: str,
             rule: str | None) -> None:  # fmt: skip
        alert = make_alert(aid, kind, severity, message, rec["event_time"].isoformat(), entity, rule)
        where = {"event_id": rec.get("event_id"), "latitude": rec.get("latitude"), "longitude": rec.get("longitude")}
        self.hits.append((alert, where))

    def _vehicles(self) -> None:
        """Each vehicle's events in zone terms. Most vehicles need nothing: outside every zone
        before and now; or, counting only its events not older than its state (``_vehicle`` skips
        the others: a lagging stream), none left, or all still in the zones the state names, of
        its type, with the speed rules there all below or all above (``_settled``). The others
        go through ``_vehicle``, event by event, in batch order.

        The common case is decided over the batch at once (``_settled``): the zones, types and
        speeds of the events each vehicle takes in are compared as arrays."""
        position, states = self.e._parsed_for(self.book)  # a state's text -> ``State`` (None: ``_vehicle`` reads it)
        texts, highs = self.states, self.high
        end = SEP + SEP
        # the vehicles with something to do: a state naming a zone or a speed rule fired, or an
        # event in a zone (the others: outside every zone with no speed rule fired, before and now)
        wanted = [g for g, (text, high) in enumerate(zip(texts, highs, strict=True))
                  if high or (text is not None and not text.endswith(end))]  # fmt: skip
        if not wanted:
            return
        slow: list[int] = []  # the vehicles to take event by event
        known: list[tuple[int, State]] = []  # vehicles with a state
        for g in wanted:
            text = texts[g]
            got = None
            if text is not None:
                got = states.get(text, _UNREAD)
                if got is _UNREAD:
                    got = states[text] = State.read(text, position)
            if got is None:
                slow.append(g)
            else:
                known.append((g, got))
        if known:
            slow += self._settled(known)
            slow.sort()
        vehicles, sets, codes, order, bounds = self.vehicles, self.sets, self.codes, self.order, self.bounds
        first = self.names
        for g in slow:
            self._vehicle(first[g], texts[g], [(vehicles[i], sets[codes[i]]) for i in order[bounds[g] : bounds[g + 1]]],
                          position)  # fmt: skip

    def _speed_rules(self, code: int) -> list[dict[str, Any]]:
        """The speed rules of the zones of ``code``."""
        rules = self.watching.get(code)
        if rules is None:
            speed = self.book.speed
            rules = self.watching[code] = [rule for z in self.sets[code] for rule in speed.get(z, ())]
        return rules

    def _settled(self, known: list[tuple[int, State]]) -> list[int]:
        """Of the vehicles with a state, those to take event by event; over their events at once.
        A vehicle takes in only its events not older than its state (the others a lagging stream's,
        or the state's own). Of those with any, it is left as it is when all are in the zones the
        state names, of its type (or of none), with each speed rule there seeing all of them at or
        below its threshold with the rule not fired, or all above it with the rule fired already
        (or not for this type): then ``_vehicle`` would raise nothing and leave its state as read."""
        bounds, vehicles, sets = self.bounds, self.vehicles, self.sets
        n = len(known)
        at = np.fromiter((g for g, _ in known), np.intp, n)
        edges = np.asarray(bounds, np.intp)
        sizes = edges[at + 1] - edges[at]
        starts, rows = _spans(edges[at], sizes)
        events = list(map(vehicles.__getitem__, self.grouped_order[rows].tolist()))
        newer = _event_ms(events) >= np.repeat(np.fromiter((got.t0 for _, got in known), np.int64, n), sizes)
        codes = self.grouped_codes[rows]
        low = np.minimum.reduceat(np.where(newer, codes, len(sets)), starts)
        high = np.maximum.reduceat(np.where(newer, codes, -1), starts)
        code_of = {zones: code for code, zones in enumerate(sets)}
        state_code = np.fromiter((code_of.get(got.zones, -1) for _, got in known), np.intp, n)
        # no newer event: nothing to take in; newer events elsewhere than the state's zones: slow
        taking = np.logical_or.reduceat(newer, starts)
        same = taking & (low == high) & (low == state_code)
        slow = at[taking & ~same].tolist()
        check = np.flatnonzero(same)
        if not len(check):
            return slow
        # the vehicles still in their zones: an event of another type than the state's (an event
        # without one keeps it), or a speed rule of their zones changing its mind
        sizes = sizes[check]
        starts, kept = _spans(starts[check], sizes)
        events, mask = list(map(events.__getitem__, kept.tolist())), newer[kept]
        steady = [known[k] for k in check.tolist()]
        event_type = np.array(list(map(_TYPE, events)), object)
        state_type = np.repeat(np.array([got.vtype for _, got in steady], object), sizes)
        other = np.logical_or.reduceat(mask & event_type.astype(bool) & (event_type != state_type), starts).tolist()
        watched = [self._speed_rules(c) for c in low[check].tolist()]
        fast: list[float] = []
        slowest: list[float] = []
        if any(watched):
            speed = np.array(list(map(_SPEED, events)), float)  # no speed: NaN
            known_speed = np.where(np.isnan(speed), -math.inf, speed)
            fast = np.maximum.reduceat(np.where(mask, known_speed, -math.inf), starts).tolist()
            # no speed: at or below every threshold
            slowest = np.minimum.reduceat(np.where(mask, known_speed, math.inf), starts).tolist()
        for k, (g, got) in enumerate(steady):
            if other[k] or (
                watched[k] and not _speeds_unchanged(watched[k], fast[k], slowest[k], got.latched, got.vtype)
            ):
                slow.append(g)
        return slow

    def _vehicle(self, vehicle: str, state: str | None, events: list[tuple[Record, frozenset[int]]],
                 position: dict[str, int]) -> None:  # fmt: skip
        """One vehicle's events (each with the zones it is in), oldest first: the crossings they
        make from ``state`` (its state as read), and the state's change."""
        book = self.book
        names, ids = book.zone_names, book.zone_ids
        # the state: the newest event time when it last changed, the vehicle's type, the zones it is
        # in and the speed rules that fired for it (until it slows down or leaves their zone)
        parts = state.split(SEP) if state else []
        t_text, vtype, zone_text, latch_text = parts if len(parts) == 4 else ("0", "", "", "")
        t0 = int(t_text)
        before = frozenset(position[z] for z in zone_text.split(LIST) if z in position)
        latched = set(latch_text.split(LIST)) - {""}
        was = (before, vtype, frozenset(latched))
        now, newest = before, t0
        if len(events) > 1:
            events.sort(key=lambda item: item[0]["event_time"])
        for rec, inside in events:
            t = _ms(rec["event_time"])
            if t < t0:
                continue  # older than what the state already took in
            newest = max(newest, t)
            second = str(t // 1000)  # the vehicle and GPS streams report one crossing: one alert
            vtype = rec.get("vehicle_type") or vtype
            for z in inside - now:
                for rule in book.enter.get(z, ()):
                    if rule.get("vehicle_type") in (None, vtype):
                        self._hit(alert_id(rule["id"], vehicle, second), "zone_enter", rule["severity"],
                                  f"{vehicle} entered {names[z]}", rec, vehicle, rule["id"])  # fmt: skip
            for z in now - inside:
                for rule in book.exit.get(z, ()):
                    if rule.get("vehicle_type") in (None, vtype):
                        self._hit(alert_id(rule["id"], vehicle, second), "zone_exit", rule["severity"],
                                  f"{vehicle} left {names[z]}", rec, vehicle, rule["id"])  # fmt: skip
                for rule in book.speed.get(z, ()):  # left the zone: its speed rules start over
                    latched.discard(rule["id"])
            speed = rec.get("speed")
            for z in inside:
                for rule in book.speed.get(z, ()):
                    if speed is None or speed <= rule["threshold"]:
                        latched.discard(rule["id"])
                    elif rule["id"] not in latched and rule.get("vehicle_type") in (None, vtype):
                        latched.add(rule["id"])
                        self._hit(alert_id(rule["id"], vehicle, second), "speed_in_zone",
                                  rule["severity"], f"{vehicle} at {speed:.0f} km/h in {names[z]} "
                                  f"(above {rule['threshold']:g})", rec, vehicle, rule["id"])  # fmt: skip
            now = inside
        # Written when it changed (not for time alone), and kept when the vehicle left every
        # zone: its time is what makes a late event of the vehicle's other stream (older than
        # the change) harmless, instead of a second enter and exit.
        if (now, vtype, frozenset(latched)) != was:
            vtype = vtype.replace(SEP, " ").replace(LIST, " ")
            text = SEP.join((str(newest), vtype, LIST.join(ids[z] for z in now), LIST.join(latched)))
            self.inside_changes.append((vehicle, state, text))

    def _latch(self, key: str) -> bool:
        """Mark ``key``'s rule as fired for its entity; True when it had not fired yet."""
        if key in self.latched:
            return False
        self.latched[key] = "1"
        self.set_latch[key] = "1"
        self.del_latch.discard(key)
        return True

    def _unlatch(self, key: str) -> None:
        self.latched.pop(key, None)
        self.set_latch.pop(key, None)
        self.del_latch.add(key)

    def _congestion(self) -> None:
        unknown = len(LEVELS)
        for segment, events in self.by_segment.items():
            events.sort(key=lambda r: r["event_time"])
            for rule in self.book.congestion:
                key = f"{rule['id']}{SEP}{segment}"
                start: int | None
                start, fired = self.congested.get(key) or (None, False)
                level, minutes = rule["threshold"], rule.get("minutes") or 0
                for rec in events:
                    t = _ms(rec["event_time"])
                    rank = level_rank(rec.get("congestion_level"))
                    if rank == unknown:
                        continue  # no level in this event: nothing to judge
                    if rank >= level:
                        start = t if start is None else min(start, t)
                        if not fired and t - start >= minutes * 60_000:
                            fired = True
                            road = rec.get("road_name") or segment
                            held = f" for {(t - start) / 60_000:.0f} min" if minutes else ""
                            message = f"{road}: {rec['congestion_level']} traffic{held}"
                            aid = alert_id(rule["id"], segment, rec["event_id"])
                            self._hit(aid, "congestion", rule["severity"], message, rec, segment, rule["id"])
                    else:
                        start, fired = None, False
                if start is None:
                    if key in self.congested:
                        self.del_congestion.add(key)
                elif self.congested.get(key) != [start, fired]:
                    self.set_congestion[key] = orjson.dumps([start, fired])

    def _weather(self) -> None:
        for station, events in self.by_station.items():
            events.sort(key=lambda r: r["event_time"])
            for rec in events:
                aqi = rec.get("airQualityIndex")
                for rule in self.book.aqi:
                    key = f"{rule['id']}{SEP}{station}"
                    if aqi is not None and aqi > rule["threshold"]:
                        if self._latch(key):
                            self._hit(alert_id(rule["id"], station, rec["event_id"]), "aqi", rule["severity"],
                                      f"AQI {aqi:.0f} at {station} (above {rule['threshold']:g})", rec, station,
                                      rule["id"])  # fmt: skip
                    elif aqi is not None:
                        self._unlatch(key)
                self._advisory(station, rec)

    def _advisory(self, station: str, rec: Record) -> None:
        """A weather advisory in the event's extra fields (``advisory``: text, optional ``severity``)."""
        extra = rec.get("extra")
        key = f"advisory{SEP}{station}"
        text = None
        if extra and '"advisory"' in extra:
            fields = orjson.loads(extra)
            text = fields.get("advisory") if isinstance(fields.get("advisory"), str) else None
        if not text:
            if key in self.latched:
                self._unlatch(key)
            return
        text = text[:200]
        if self.latched.get(key) == text:
            return
        self.latched[key] = self.set_latch[key] = text
        self.del_latch.discard(key)
        severity = fields.get("severity") if fields.get("severity") in SEVERITIES else "medium"
        self._hit(alert_id("advisory", station, rec["event_id"]), "advisory", severity, f"{station}: {text}", rec,
                  station, None)  # fmt: skip

    def write(self) -> None:
        """One script call: what the batch changed."""
        if not (self.inside_changes or self.set_latch or self.del_latch or self.set_congestion
                or self.del_congestion or self.new_incidents):  # fmt: skip
            return
        e = self.e
        change = [
            self.inside_changes, [],
            list(self.set_latch.items()), list(self.del_latch),
            [[k, v.decode()] for k, v in self.set_congestion.items()], list(self.del_congestion),
            [[i, str(ms)] for i, ms in self.new_incidents.items()], INCIDENTS_KEPT,
        ]  # fmt: skip
        e._write(keys=e.state_keys, args=[orjson.dumps(change)])


@dataclass(frozen=True)
class State:
    """A vehicle's state as read: the time of its last change (ms), its type, the zones it is in
    (indexes in the rule book) and the speed rules fired for it."""

    t0: int
    vtype: str
    zones: frozenset[int]
    latched: frozenset[str]

    @staticmethod
    def read(state: str, position: Mapping[str, int]) -> State | None:
        """None for a state only ``_vehicle`` can read (not four parts, or no time)."""
        parts = state.split(SEP)
        if len(parts) != 4:
            return None
        try:
            t0 = int(parts[0])
        except ValueError:
            return None
        if not t0:
            return None
        zones = frozenset(position[z] for z in parts[2].split(LIST) if z in position)
        return State(t0, parts[1], zones, frozenset(parts[3].split(LIST)))


_UNREAD = State(0, "", frozenset(), frozenset())  # a state's text not read yet
_TYPE, _SPEED = methodcaller("get", "vehicle_type"), methodcaller("get", "speed")
_EVENT_TIME, _TIMESTAMP = itemgetter("event_time"), methodcaller("timestamp")


def _speeds_unchanged(rules: Sequence[dict[str, Any]], fast: float, slow: float, latched: frozenset[str],
                      vtype: str) -> bool:  # fmt: skip
    """True when no speed rule among ``rules`` changes its mind for events whose highest known
    speed is ``fast`` and lowest ``slow`` (-inf: one without a speed): each sees them all at or
    below its threshold and has not fired, or all above it and has fired (or is not for ``vtype``)."""
    for rule in rules:
        if fast <= rule["threshold"]:
            if rule["id"] in latched:
                return False  # it drops back below: unlatched
        elif slow > rule["threshold"]:
            if rule["id"] not in latched and rule.get("vehicle_type") in (None, vtype):
                return False  # it goes above: fires
        else:
            return False
    return True


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _event_ms(records: Sequence[Record]) -> np.ndarray:
    """``_ms`` of each record's ``event_time``, as an array (the same float steps, so equal)."""
    seconds = np.fromiter(map(_TIMESTAMP, map(_EVENT_TIME, records)), float, len(records))
    return (seconds * 1000).astype(np.int64)


def _spans(firsts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spans laid end to end: where each starts in the result, and the result, the indexes
    ``firsts[k] .. firsts[k] + sizes[k] - 1`` of each span in turn."""
    starts = np.cumsum(sizes) - sizes
    return starts, np.repeat(firsts, sizes) + np.arange(int(sizes.sum())) - np.repeat(starts, sizes)
