"""The rule engine's fast paths decide as the slow ones: the zone grid finds the zones an exact
test per zone finds (points on edges, vertices and cell borders included), and skipping the
vehicles whose zones did not change raises the same alerts and leaves the same state as taking
every vehicle event by event."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import rule_batch, rules
from pipeline.alerts import AlertLog
from pipeline.rulebook import Book, RuleBook
from pipeline.rules import RuleEngine, by_stream, compile_book
from pipeline.validation import Validator
from pipeline.zone_grid import ZoneGrid

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
_VALIDATOR = Validator()


def polygon(rng: random.Random, cx: float, cy: float, r: float) -> list[list[float]]:
    """A star-shaped ring (concave when its radii vary), sometimes a plain rectangle."""
    if rng.random() < 0.3:
        w, h = r * rng.uniform(0.3, 1), r * rng.uniform(0.3, 1)
        return [[cx - w, cy - h], [cx + w, cy - h], [cx + w, cy + h], [cx - w, cy + h], [cx - w, cy - h]]
    k = rng.randint(3, 12)
    ring = []
    for i in range(k):
        a = 2 * np.pi * i / k
        d = r * rng.uniform(0.3, 1.0)
        ring.append([cx + d * float(np.cos(a)), cy + d * float(np.sin(a))])
    return [*ring, ring[0]]


def zones_of(seed: int, count: int) -> list[Any]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        cx, cy, r = 13.3 + rng.uniform(0, 0.2), 52.4 + rng.uniform(0, 0.1), rng.uniform(0.001, 0.05)
        shell = polygon(rng, cx, cy, r)
        geom = shapely.Polygon(shell)
        if rng.random() < 0.2:  # with a hole
            hole = shapely.Point(cx, cy).buffer(r * 0.2, quad_segs=2)
            geom = shapely.Polygon(shell, [list(hole.exterior.coords)])
        if geom.is_valid and geom.area > 0:
            out.append(geom)
    return out


def awkward_points(geoms: list[Any], grid: ZoneGrid, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points, plus vertices, edge midpoints and points on the grid's cell borders."""
    x0, y0, x1, y1 = grid.x0, grid.y0, grid.x1, grid.y1
    xs: list[np.ndarray] = [rng.uniform(x0 - 0.01, x1 + 0.01, n)]
    ys: list[np.ndarray] = [rng.uniform(y0 - 0.01, y1 + 0.01, n)]
    for geom in geoms:
        coords = np.asarray(geom.exterior.coords)
        xs += [coords[:, 0], (coords[1:, 0] + coords[:-1, 0]) / 2]
        ys += [coords[:, 1], (coords[1:, 1] + coords[:-1, 1]) / 2]
    k = rng.integers(0, grid.n + 1, n)
    xs += [x0 + k * grid.dx, rng.uniform(x0, x1, n), np.full(4, x1)]
    ys += [rng.uniform(y0, y1, n), y0 + k * grid.dy, np.array([y0, y1, y0, y1])]
    return np.concatenate(xs), np.concatenate(ys)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), count=st.integers(1, 40), cells=st.sampled_from([4, 16, 256]))
def test_the_grid_finds_the_zones_an_exact_test_of_each_zone_finds(seed: int, count: int, cells: int) -> None:
    geoms = zones_of(seed, count)
    if not geoms:
        return
    for geom in geoms:
        shapely.prepare(geom)
    bounds = [tuple(g.bounds) for g in geoms]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pipeline.zone_grid.CELLS", cells)
        grid = ZoneGrid.build(geoms, bounds)
    lons, lats = awkward_points(geoms, grid, np.random.default_rng(seed), 300)
    events, zones = grid.pairs(lons, lats)
    got = set(zip(events.tolist(), zones.tolist(), strict=True))
    want = {
        (i, z) for z, geom in enumerate(geoms) for i in np.flatnonzero(shapely.intersects_xy(geom, lons, lats)).tolist()
    }
    assert got == want
    assert len(got) == len(events)  # each pair once


def test_zone_codes_name_each_set_of_overlapping_zones_once() -> None:
    square = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]]
    shifted = [[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0], [1.0, 1.0]]
    book = Book(1, {z: {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                        "properties": {"name": z}} for z, ring in (("a", square), ("b", shifted))}, {})  # fmt: skip
    compiled = compile_book(book, lambda what, why: None)
    codes, sets = compiled.zone_codes(np.array([0.5, 1.5, 2.5, 5.0, 1.2]), np.array([0.5, 1.5, 2.5, 5.0, 1.2]))
    assert [sets[c] for c in codes.tolist()] == [{0}, {0, 1}, {1}, set(), {0, 1}]
    assert codes[1] == codes[4]


# -- the engine: skipping the vehicles whose zones did not change decides as going event by event --


def copy_book(client: fakeredis.FakeRedis, source: RuleBook, prefix: str) -> RuleBook:
    """A second rule book with the same zones and rules, ids included (so alert ids match)."""
    book = RuleBook(client, prefix)
    for key, target in ((source.zones_key, book.zones_key), (source.rules_key, book.rules_key)):
        stored: Any = client.hgetall(key)
        client.hset(target, mapping=stored)
    client.set(book.version_key, client.get(source.version_key) or 0)
    return book


def scenario(
    seed: int, lag: float = 0.3
) -> tuple[RuleBook, list[list[tuple[str, dict[str, Any]]]], fakeredis.FakeRedis]:
    rng = random.Random(seed)
    client = fakeredis.FakeRedis()
    book = RuleBook(client, "a:")
    ids = []
    for geom in zones_of(seed, rng.randint(1, 8)):
        ring = [list(map(float, c)) for c in geom.exterior.coords]
        feature = {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": "z"},
        }
        ids.append(book.add_zone(feature)[0])
    if not ids:
        ring = [[13.2, 52.3], [13.6, 52.3], [13.6, 52.6], [13.2, 52.6], [13.2, 52.3]]
        everywhere = {"type": "Polygon", "coordinates": [ring]}
        ids.append(book.add_zone({"type": "Feature", "properties": {"name": "all"}, "geometry": everywhere})[0])
    for _ in range(rng.randint(1, 8)):
        kind = rng.choice(["zone_enter", "zone_exit", "speed_in_zone", "speed_in_zone"])
        rule: dict[str, Any] = {"name": kind, "kind": kind, "zone": rng.choice(ids)}
        if rng.random() < 0.3:
            rule["vehicle_type"] = rng.choice(["car", "bus"])
        if kind == "speed_in_zone":
            rule["threshold"] = rng.choice([30, 40, 50])
        book.add_rule(rule)
    # vehicles wandering over the zones' area, reporting on both streams; some lag, some repeat,
    # some change type or report no speed
    vehicles = {f"v{i}": [13.3 + rng.uniform(0, 0.2), 52.4 + rng.uniform(0, 0.1)] for i in range(12)}
    batches = []
    t = 0.0
    for _ in range(25):
        batch = []
        for _ in range(rng.randint(1, 60)):
            name = rng.choice(list(vehicles))
            where = vehicles[name]
            if rng.random() < 0.5:
                where[0] += rng.gauss(0, 0.01)
                where[1] += rng.gauss(0, 0.005)
            t += rng.uniform(0, 1.5)
            at = t - (rng.uniform(0, 20) if rng.random() < lag else 0)  # lagging events
            fields: dict[str, Any] = {"device_id": name, "location": [where[1], where[0]],
                                      "timestamp": (T0 + timedelta(seconds=at)).isoformat()}  # fmt: skip
            if rng.random() < 0.9:
                fields["speed"] = rng.choice([10.0, 30.0, 35.0, 40.0, 45.0, 50.0, 70.0])
            stream = rng.choice(["vehicle_data", "gps_data"])
            if stream == "vehicle_data" or rng.random() < 0.5:
                fields["vehicle_type"] = "bus" if rng.random() < 0.1 else "car"
            out = _VALIDATOR.validate(stream, fields)
            if not isinstance(out, dict):  # the stream needs a speed
                out = _VALIDATOR.validate(stream, {**fields, "speed": 20.0})
            assert isinstance(out, dict), out
            batch.append((stream, out))
            if rng.random() < 0.05:
                batch.append((stream, out))  # a duplicate
        batches.append(batch)
    return book, batches, client


def event_by_event(batch: Any) -> None:
    """``Batch._vehicles`` without its fast paths: every vehicle with an event in a zone, or a
    state naming one, taken event by event (as the engine did before it had them)."""
    position = {zone_id: i for i, zone_id in enumerate(batch.book.zone_ids)}
    bounds = batch.bounds
    for vehicle, a, b in zip(batch.first, bounds[:-1], bounds[1:], strict=True):
        state = batch.inside.get(vehicle)
        indexes = batch.order[a:b]
        if (state is None or state.endswith(rules.SEP + rules.SEP)) and not any(batch.codes[i] for i in indexes):
            continue
        batch._vehicle(vehicle, state, [(batch.vehicles[i], batch.sets[batch.codes[i]]) for i in indexes], position)


def decide_alike(monkeypatch: pytest.MonkeyPatch, seed: int, lag: float, name: str, fast_path: Any) -> None:
    """Scenario ``seed``'s batches through two engines, one with ``Batch.<name>`` replaced by
    ``fast_path``, one taking every vehicle event by event: the same alerts, the same state."""
    book, batches, client = scenario(seed, lag)
    slow_book = copy_book(client, book, "b:")
    fast = RuleEngine(book, AlertLog(client, "a:"), reload_s=0.0)
    slow = RuleEngine(slow_book, AlertLog(client, "b:"), reload_s=0.0)
    for n, batch in enumerate(batches):
        monkeypatch.setattr(rule_batch.Batch, name, fast_path)
        got = fast.evaluate(by_stream(batch))
        monkeypatch.setattr(rule_batch.Batch, "_vehicles", event_by_event)
        want = slow.evaluate(by_stream(batch))
        monkeypatch.undo()
        assert sorted(a["id"] for a in got) == sorted(a["id"] for a in want), (seed, n)
        assert client.hgetall(fast.inside_key) == client.hgetall(slow.inside_key), (seed, n)


def test_skipping_unchanged_vehicles_raises_what_going_event_by_event_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_path = rule_batch.Batch._vehicles
    taken = []

    def counting(self: Any, *args: Any) -> None:
        calls = []
        vehicle = self._vehicle

        def one(*given: Any) -> None:
            calls.append(given)
            vehicle(*given)

        monkeypatch.setattr(self, "_vehicle", one)
        fast_path(self)
        taken.append((len(self.first), len(calls)))

    for seed in range(30):
        decide_alike(monkeypatch, seed, 0.3, "_vehicles", counting)
    vehicles, event_by_event_taken = map(sum, zip(*taken, strict=True))
    assert 0 < event_by_event_taken < vehicles / 2  # the fast paths were taken, often


@pytest.mark.parametrize("lag", [0.0, 0.3])
def test_the_batch_wide_check_of_vehicles_with_a_state_decides_as_going_event_by_event(
    monkeypatch: pytest.MonkeyPatch, lag: float
) -> None:
    """``Batch._settled`` (the zones, types and speeds of the events each vehicle with a state
    takes in, those not older than its state, compared as arrays over the batch) against
    ``_vehicle`` on every vehicle: the same alerts, the same state, lagging events or not; some pass
    it at once, some do not."""
    settled = rule_batch.Batch._settled
    seen = [0, 0]  # vehicles checked at once, of them sent on to ``_vehicle``

    def counting(self: Any, vehicles: Any) -> list[int]:
        out = settled(self, vehicles)
        seen[0] += len(vehicles)
        seen[1] += len(out)
        return out

    for seed in range(30):
        decide_alike(monkeypatch, seed, lag, "_settled", counting)
    assert 0 < seen[1] < seen[0]  # some vehicles passed the check at once, some went on (a zone, a type, a speed)


def test_the_batch_wide_event_times_are_the_one_event_times_to_the_millisecond() -> None:
    """``_settled`` compares events with a state by ``_event_ms``, ``_vehicle`` by ``_ms``: one
    event on either side of a state's time must fall on the same side in both."""
    rng = random.Random(7)
    base = datetime(2026, 12, 7, tzinfo=UTC)
    times = [base + timedelta(microseconds=rng.randrange(10**12)) for _ in range(20_000)]
    times += [base + timedelta(milliseconds=k) for k in range(1000)]  # on the millisecond
    records = [{"event_time": t} for t in times]
    assert rule_batch._event_ms(records).tolist() == [rule_batch._ms(t) for t in times]
