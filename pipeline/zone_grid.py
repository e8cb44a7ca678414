"""Which zones a batch of positions is in, with a grid over the zones and few exact tests.

Built once per rule book version: a grid of cells over the zones' extent, and for each cell the
zones that surely hold all of it (the cell, slightly enlarged, is inside the polygon) and those
that may hold part of it (their edge crosses it); zones that miss the cell are not listed. A
position then costs a few array operations: its cell, the cell's sure zones, and an exact test
(``shapely.intersects_xy`` on the prepared polygon, one vectorised call for the whole batch) only
against the zones whose edge crosses its cell. The answer is the exact test's for every position:
the sure and missed verdicts are GEOS's exact predicates on a cell enlarged by far more than the
rounding of the cell arithmetic, so a position on a cell's border is never misfiled. Measured
for 5,000 positions and 100 concave zones: 0.17 ms, against 1.4 ms for the sweep it replaced (each
zone's bounding-box candidates tested with ``intersects_xy``, zone after zone) and ~3.8 ms for
``shapely.points`` and an STRtree query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

CELLS = 256  # per side, at most
CELL_BUDGET = 250_000  # (cell, zone) pairs to classify when building: the grid coarsens past it
_MARGIN = 1e-6  # a cell is classified enlarged by this share of its size on each side


@dataclass(frozen=True)
class ZoneGrid:
    """The grid of one set of zones (see the module's docstring)."""

    x0: float
    y0: float
    x1: float
    y1: float
    dx: float
    dy: float
    n: int  # cells per side
    cell_class: np.ndarray  # per cell (row-major, ``iy * n + ix``): 0, or 1 + its index in the lists below
    sure_start: np.ndarray  # per listed cell: where its sure zones start in ``sure``, and how many
    sure_count: np.ndarray
    sure: np.ndarray
    maybe_start: np.ndarray  # per listed cell: where its crossing zones start in ``maybe``, and how many
    maybe_count: np.ndarray
    maybe: np.ndarray
    geoms: np.ndarray  # the prepared polygons, as an object array

    @classmethod
    def build(cls, geoms: Sequence[Any], bounds: Sequence[tuple[float, float, float, float]]) -> ZoneGrid:
        """The grid of ``geoms`` (prepared polygons, at least one) with their ``bounds``."""
        b = np.asarray(bounds, float).reshape(-1, 4)
        x0, y0, x1, y1 = float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())
        n = CELLS
        while True:  # as fine as the budget allows
            dx, dy = max(x1 - x0, 1e-9) / n, max(y1 - y0, 1e-9) / n
            ix0, ix1 = _cell(b[:, 0], x0, dx, n), _cell(b[:, 2], x0, dx, n)
            iy0, iy1 = _cell(b[:, 1], y0, dy, n), _cell(b[:, 3], y0, dy, n)
            if n <= 4 or int(((ix1 - ix0 + 1) * (iy1 - iy0 + 1)).sum()) <= CELL_BUDGET:
                break
            n //= 2
        ex, ey = dx * _MARGIN, dy * _MARGIN
        cells, zones, sure = [], [], []
        for zone, geom in enumerate(geoms):
            ixs = np.arange(ix0[zone], ix1[zone] + 1)
            iys = np.arange(iy0[zone], iy1[zone] + 1)
            mesh_x, mesh_y = np.meshgrid(ixs, iys)
            gx, gy = mesh_x.ravel(), mesh_y.ravel()
            boxes = shapely.box(x0 + gx * dx - ex, y0 + gy * dy - ey, x0 + (gx + 1) * dx + ex, y0 + (gy + 1) * dy + ey)
            touches = shapely.intersects(geom, boxes)
            inside = shapely.contains(geom, boxes)
            cells.append((gy * n + gx)[touches])
            zones.append(np.full(int(touches.sum()), zone, np.intp))
            sure.append(inside[touches])
        cell = np.concatenate(cells)
        zone_of = np.concatenate(zones)
        is_sure = np.concatenate(sure)
        listed, inverse = np.unique(cell, return_inverse=True)
        cell_class = np.zeros(n * n, np.intp)
        cell_class[listed] = np.arange(1, len(listed) + 1)
        sure_start, sure_count, sure_zones = _ragged(inverse[is_sure], zone_of[is_sure], len(listed))
        maybe_start, maybe_count, maybe_zones = _ragged(inverse[~is_sure], zone_of[~is_sure], len(listed))
        geom_array = np.empty(len(geoms), object)
        geom_array[:] = list(geoms)
        return cls(x0, y0, x1, y1, dx, dy, n, cell_class, sure_start, sure_count, sure_zones,
                   maybe_start, maybe_count, maybe_zones, geom_array)  # fmt: skip

    def pairs(self, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (position index, zone index) with the position in the zone (on an edge counts)."""
        where = np.flatnonzero((lons >= self.x0) & (lons <= self.x1) & (lats >= self.y0) & (lats <= self.y1))
        xs, ys = lons[where], lats[where]
        listed = self.cell_class[_cell(ys, self.y0, self.dy, self.n) * self.n + _cell(xs, self.x0, self.dx, self.n)]
        hit = listed > 0
        where, listed = where[hit], listed[hit] - 1
        events, zones = _expand(where, listed, self.sure_start, self.sure_count, self.sure)
        maybe_events, maybe_zones = _expand(where, listed, self.maybe_start, self.maybe_count, self.maybe)
        if len(maybe_events):
            inside = shapely.intersects_xy(self.geoms[maybe_zones], lons[maybe_events], lats[maybe_events])
            events = np.concatenate((events, maybe_events[inside]))
            zones = np.concatenate((zones, maybe_zones[inside]))
        return events, zones


def _cell(values: np.ndarray, start: float, size: float, n: int) -> np.ndarray:
    """The cell index of each value (at or after ``start``); the last cell takes the far edge.
    The same expression for the zones' bounds and the positions, so a position inside a zone's
    bounds always falls in one of the zone's cells (it is monotonic)."""
    return np.minimum(((values - start) / size).astype(np.intp), n - 1)


def _ragged(owner: np.ndarray, items: np.ndarray, owners: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``items`` grouped by ``owner`` (0..owners-1): each owner's start and count in the grouped items."""
    order = np.argsort(owner, kind="stable")
    count = np.bincount(owner, minlength=owners)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    return start, count, items[order]


def _expand(events: np.ndarray, listed: np.ndarray, start: np.ndarray, count: np.ndarray,
            items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Each event once per item of its cell: (event, item) pairs."""
    per = count[listed]
    total = int(per.sum())
    if not total:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    ends = np.cumsum(per)
    offset = np.arange(total) - np.repeat(ends - per, per)
    return np.repeat(events, per), items[np.repeat(start[listed], per) + offset]
