"""The rule book compiled for evaluation (``compile_book``): its zones as prepared polygons, its
rules grouped by kind and zone. Zone tests are shapely 2 vectorised over all the batch's GPS
positions at once (``Compiled.zone_codes``: a grid over the zones with exact tests where a zone's
edge crosses a cell, ``pipeline.zone_grid``; an STRtree queried with ``shapely.points`` for many
zones).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from pipeline.rulebook import Book
from pipeline.zone_grid import ZoneGrid

SWEEP_ZONES = 200  # up to this many zones, ``Compiled.zone_codes`` uses a grid (``ZoneGrid``); beyond, an STRtree


@dataclass
class Compiled:
    """One version of the rule book, ready to evaluate."""

    version: int
    zone_ids: list[str] = field(default_factory=list)
    zone_names: list[str] = field(default_factory=list)
    geoms: list[Any] = field(default_factory=list)  # prepared polygons
    bounds: list[tuple[float, float, float, float]] = field(default_factory=list)
    tree: shapely.STRtree | None = None
    enter: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))  # zone index -> rules
    exit: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    speed: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    congestion: list[dict[str, Any]] = field(default_factory=list)
    aqi: list[dict[str, Any]] = field(default_factory=list)
    singles: list[frozenset[int]] = field(default_factory=list)  # no zone, then each zone alone
    grid: ZoneGrid | None = None

    @property
    def zoned(self) -> bool:
        return self.tree is not None and bool(self.enter or self.exit or self.speed)

    def locate(self, lons: np.ndarray, lats: np.ndarray) -> dict[int, frozenset[int]]:
        """Which zones (indexes) each position is in (on an edge counts), for the positions in any."""
        codes, sets = self.zone_codes(lons, lats)
        return {event: sets[code] for event, code in enumerate(codes.tolist()) if code}

    def zone_codes(self, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, list[frozenset[int]]]:
        """The zones each position is in, as a code per position into a list of zone sets: 0 is
        no zone, ``1 + i`` zone ``i`` alone (``singles``), further codes the batch's overlaps.

        Up to ``SWEEP_ZONES`` zones, a grid over the zones (``pipeline.zone_grid``: the cell of
        each position, its zones known for the cells inside or outside a zone, an exact test where
        a zone's edge crosses the cell); more zones, ``shapely.points`` and the STRtree (both exact:
        a position on an edge is in)."""
        n = len(lons)
        if len(self.geoms) > SWEEP_ZONES and self.tree is not None:
            event_of, zone_of = self.tree.query(shapely.points(lons, lats), predicate="intersects")
        elif self.geoms:
            if self.grid is None:
                self.grid = ZoneGrid.build(self.geoms, self.bounds)  # on first use (a big book may never need it)
            event_of, zone_of = self.grid.pairs(lons, lats)
        else:
            event_of = zone_of = np.empty(0, np.intp)
        if not len(event_of):
            return np.zeros(n, np.intp), self.singles
        codes = np.zeros(n, np.intp)
        count = np.bincount(event_of, minlength=n)
        alone = count[event_of] == 1
        codes[event_of[alone]] = zone_of[alone] + 1
        sets = self.singles
        if not alone.all():  # positions in overlapping zones: a code per distinct set of zones
            sets = list(sets)
            known: dict[frozenset[int], int] = {}
            overlaps: dict[int, set[int]] = {}
            for event, zone in zip(event_of[~alone].tolist(), zone_of[~alone].tolist(), strict=True):
                overlaps.setdefault(event, set()).add(zone)
            for event, zones in overlaps.items():
                key = frozenset(zones)
                code = known.get(key)
                if code is None:
                    code = known[key] = len(sets)
                    sets.append(key)
                codes[event] = code
        return codes, sets


def compile_book(book: Book, skipped: Callable[[str, str], None]) -> Compiled:
    """Zones into an STRtree and rules grouped by kind and zone; ``skipped(what, why)`` hears of
    each zone or rule that cannot be used (they are validated when stored, so: edited by hand)."""
    out = Compiled(book.version)
    geoms: list[Any] = []
    index: dict[str, int] = {}
    for zone_id, zone in book.zones.items():
        try:
            geom = shape(zone["geometry"])
            if geom.is_empty or not geom.is_valid:
                raise ValueError("empty or invalid polygon")
        except Exception as exc:
            skipped(f"zone {zone_id}", str(exc))
            continue
        index[zone_id] = len(geoms)
        shapely.prepare(geom)
        geoms.append(geom)
        out.bounds.append(tuple(geom.bounds))
        out.zone_ids.append(zone_id)
        out.zone_names.append(str(zone.get("properties", {}).get("name") or zone_id))
    out.geoms = geoms
    out.singles = [frozenset(), *(frozenset({i}) for i in range(len(geoms)))]
    if geoms:
        out.tree = shapely.STRtree(geoms)
    for rule_id, rule in book.rules.items():
        kind = rule.get("kind")
        try:
            if kind in ("zone_enter", "zone_exit", "speed_in_zone"):
                if rule.get("zone") not in index:
                    raise ValueError(f"its zone {rule.get('zone')!r} is missing or unusable")
                target = {"zone_enter": out.enter, "zone_exit": out.exit, "speed_in_zone": out.speed}[kind]
                if kind == "speed_in_zone":
                    float(rule["threshold"])
                target[index[rule["zone"]]].append(rule)
            elif kind == "congestion":
                float(rule["threshold"])
                out.congestion.append(rule)
            elif kind == "aqi":
                float(rule["threshold"])
                out.aqi.append(rule)
            else:
                raise ValueError(f"unknown kind {kind!r}")
        except (KeyError, TypeError, ValueError) as exc:
            skipped(f"rule {rule_id}", str(exc))
    return out
