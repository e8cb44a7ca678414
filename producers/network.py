"""Real city road networks (SUMO/OpenStreetMap) as a compact, routable graph.

The networks ship inside the ``eclipse-sumo`` wheel. Only car edges of the largest
strongly connected component are kept, so a vehicle placed anywhere can reach any
destination and never gets stuck in a dead end. Geometry is converted to lon/lat once
at load time and held in flat numpy arrays, so positions of thousands of vehicles are
one vectorised interpolation.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import sumolib
from numpy.typing import NDArray

VCLASS = "passenger"
CITY_FILES: dict[str, tuple[str, ...]] = {
    "berlin": ("tools", "game", "DRT", "osm.net.xml"),
    "braunschweig": ("tools", "game", "bs3d", "bs.net.xml"),
}

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True, slots=True)
class Edge:
    """One directed car road segment."""

    index: int
    id: str
    name: str
    length: float  # m, along the shape from junction centre to junction centre
    speed_limit: float  # m/s
    lanes: int  # lanes open to cars
    from_node: str
    to_node: str
    signal: bool  # ends at a traffic light
    shape: tuple[tuple[float, float], ...]  # (lon, lat) polyline

    @property
    def speed_limit_kmh(self) -> float:
        return self.speed_limit * 3.6


def sumo_home() -> Path:
    """The SUMO data directory of the installed eclipse-sumo wheel."""
    import sumo

    return Path(sumo.SUMO_HOME)


def _bearing(lat0: FloatArray, lon0: FloatArray, lat1: FloatArray, lon1: FloatArray) -> FloatArray:
    """Compass bearing in degrees [0, 360) of short segments (equirectangular is exact enough)."""
    dx = (lon1 - lon0) * np.cos(np.radians((lat0 + lat1) / 2))
    deg: FloatArray = np.degrees(np.arctan2(dx, lat1 - lat0)) % 360.0
    return deg


def _polyline(points: Sequence[tuple[float, float]]) -> FloatArray:
    """Points as an (n, 2) array without repeated vertices (at least two points)."""
    xy = np.asarray(points, dtype=np.float64)
    keep = np.concatenate([[True], np.hypot(*np.diff(xy, axis=0).T) > 1e-6])
    out = xy[keep]
    return out if len(out) >= 2 else np.vstack([xy[0], xy[-1]])


def _largest_scc(n: int, succ: list[list[int]]) -> list[int]:
    """Nodes of the largest strongly connected component (iterative Tarjan)."""
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    best: list[int] = []
    counter = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack[v] = True
            recurse = False
            for j in range(i, len(succ[v])):
                w = succ[v][j]
                if index[w] < 0:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if on_stack[w]:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > len(best):
                    best = comp
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return sorted(best)


class RoadNetwork:
    """The car edges of one city, indexed 0..n-1, with geometry and routing."""

    def __init__(self, path: str | Path, name: str = "") -> None:
        net = sumolib.net.readNet(str(path), withPedestrianConnections=False)
        self.name = name or Path(path).stem
        cars = [e for e in net.getEdges() if e.getFunction() != "internal" and e.allows(VCLASS)]
        pos = {e.getID(): i for i, e in enumerate(cars)}
        succ: list[list[int]] = []
        for e in cars:
            out = []
            for to, conns in e.getOutgoing().items():
                j = pos.get(to.getID())
                # A connection counts only if a car lane leads to a car lane (turn restrictions).
                if j is not None and any(
                    c.getFromLane().allows(VCLASS) and c.getToLane().allows(VCLASS) for c in conns
                ):
                    out.append(j)
            succ.append(sorted(set(out)))
        keep = _largest_scc(len(cars), succ)
        remap = {old: new for new, old in enumerate(keep)}
        self.dropped_edges = len(cars) - len(keep)

        x_off, y_off = net.getLocationOffset()
        proj = net.getGeoProj()
        # Shapes run from junction centre to junction centre, so consecutive edges join up and
        # a vehicle crossing a junction moves continuously instead of jumping over it.
        shapes_xy = [_polyline(cars[i].getShape(includeJunctions=True)) for i in keep]
        lengths = [float(np.hypot(*np.diff(s, axis=0).T).sum()) for s in shapes_xy]
        counts = np.array([len(s) for s in shapes_xy])
        xy = np.concatenate(shapes_xy)
        lon, lat = proj(xy[:, 0] - x_off, xy[:, 1] - y_off, inverse=True)
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)

        edges: list[Edge] = []
        self._succ: list[list[int]] = []
        start = 0
        for new, old in enumerate(keep):
            e = cars[old]
            k = int(counts[new])
            name = e.getName() or f"unnamed {e.getType().rpartition('.')[2].replace('_', ' ')} road"
            edges.append(
                Edge(
                    index=new,
                    id=e.getID(),
                    name=name,
                    length=max(lengths[new], 0.1),
                    speed_limit=float(e.getSpeed()),
                    lanes=max(1, sum(1 for ln in e.getLanes() if ln.allows(VCLASS))),
                    from_node=e.getFromNode().getID(),
                    to_node=e.getToNode().getID(),
                    signal=e.getToNode().getType() == "traffic_light",
                    shape=tuple(zip(lon[start : start + k].tolist(), lat[start : start + k].tolist(), strict=True)),
                )
            )
            self._succ.append([remap[j] for j in succ[old] if j in remap])
            start += k
        self.edges: tuple[Edge, ...] = tuple(edges)
        self.index: dict[str, int] = {e.id: e.index for e in edges}
        self._pred: list[list[int]] = [[] for _ in edges]
        for i, out in enumerate(self._succ):
            for j in out:
                self._pred[j].append(i)
        by_nodes = {(e.from_node, e.to_node): e.index for e in edges}
        self.reverse: list[int | None] = [by_nodes.get((e.to_node, e.from_node)) for e in edges]

        self.length: FloatArray = np.array([e.length for e in edges])
        self.speed_limit: FloatArray = np.array([e.speed_limit for e in edges])
        self.lanes: FloatArray = np.array([e.lanes for e in edges], dtype=np.float64)
        self.signal: NDArray[np.bool_] = np.array([e.signal for e in edges])
        self._build_geometry(lat, lon, xy, counts)
        self.bbox = (float(lat.min()), float(lon.min()), float(lat.max()), float(lon.max()))

    def _build_geometry(self, lat: FloatArray, lon: FloatArray, xy: FloatArray, counts: IntArray) -> None:
        # Vertices of all edges laid out on one increasing axis: edge e occupies
        # [base[e], base[e] + shape_len[e]], with a 1 m gap so searchsorted never
        # lands on a neighbour's vertex.
        n = len(counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        seg = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
        seg[first[1:] - 1] = 0.0  # no segment between the last vertex of one edge and the next
        local = np.zeros(len(xy))
        for e in range(n):
            a, k = first[e], counts[e]
            local[a + 1 : a + k] = np.cumsum(seg[a : a + k - 1])
        shape_len = local[first + counts - 1]
        base = np.concatenate([[0.0], np.cumsum(shape_len + 1.0)[:-1]])
        self._cum = local + np.repeat(base, counts)
        self._base = base
        self._first = first
        self._last_seg = first + counts - 2  # index of the last segment's start vertex
        self._vlat = lat
        self._vlon = lon
        nxt_lat = np.append(lat[1:], lat[-1])
        nxt_lon = np.append(lon[1:], lon[-1])
        self._vhead = _bearing(lat, lon, nxt_lat, nxt_lon)
        mid = self.positions(np.arange(n), self.length / 2)
        self.mid_lat: FloatArray = mid[0]
        self.mid_lon: FloatArray = mid[1]
        # Local metric frame (metres east/north of the bbox centre) for distances.
        lat0 = float(lat.mean())
        self._lat0 = lat0
        self._lon0 = float(lon.mean())
        self._kx = 111_320.0 * math.cos(math.radians(lat0))
        self._ky = 110_540.0

    # -- size and lookup ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self.edges)

    def edge(self, key: int | str) -> Edge:
        """The edge with index or SUMO id ``key``."""
        return self.edges[key if isinstance(key, int) else self.index[key]]

    @property
    def total_length_km(self) -> float:
        return float(self.length.sum()) / 1000.0

    def successors(self, e: int) -> list[int]:
        """Car edges reachable from the end of edge ``e``; a dead end falls back to its reverse edge."""
        out = self._succ[e]
        if out:
            return out
        rev = self.reverse[e]
        return [rev] if rev is not None else []

    def predecessors(self, e: int) -> list[int]:
        """Car edges leading into edge ``e``."""
        return self._pred[e]

    # -- geometry ------------------------------------------------------------------

    def positions(
        self, edges: Sequence[int] | IntArray, s: Sequence[float] | FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Vectorised (lat, lon, heading_deg) of points ``s`` metres along ``edges``."""
        e = np.asarray(edges, dtype=np.int64)
        pos = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.length[e])
        g = self._base[e] + pos
        k = np.searchsorted(self._cum, g, side="right") - 1
        k = np.clip(k, self._first[e], self._last_seg[e])
        span = self._cum[k + 1] - self._cum[k]
        f = np.divide(g - self._cum[k], span, out=np.zeros_like(g), where=span > 0)
        f = np.clip(f, 0.0, 1.0)
        lat = self._vlat[k] + f * (self._vlat[k + 1] - self._vlat[k])
        lon = self._vlon[k] + f * (self._vlon[k + 1] - self._vlon[k])
        return lat, lon, self._vhead[k]

    def position(self, edge: int, s: float) -> tuple[float, float, float]:
        """(lat, lon, heading_deg) of the point ``s`` metres along ``edge``."""
        lat, lon, head = self.positions([edge], [s])
        return float(lat[0]), float(lon[0]), float(head[0])

    def to_xy(self, lat: FloatArray | float, lon: FloatArray | float) -> tuple[FloatArray, FloatArray]:
        """Metres east/north of the network centre (good to ~0.1 % across a city)."""
        x = (np.asarray(lon, dtype=np.float64) - self._lon0) * self._kx
        y = (np.asarray(lat, dtype=np.float64) - self._lat0) * self._ky
        return x, y

    def geojson(self) -> dict[str, Any]:
        """The car roads as a GeoJSON FeatureCollection of LineStrings (for drawing the map)."""
        features = [
            {
                "type": "Feature",
                "id": e.id,
                "geometry": {"type": "LineString", "coordinates": [list(p) for p in e.shape]},
                "properties": {"name": e.name, "speed_limit": round(e.speed_limit_kmh, 1), "lanes": e.lanes},
            }
            for e in self.edges
        ]
        return {"type": "FeatureCollection", "features": features}

    # -- routing -------------------------------------------------------------------

    def shortest_path(self, source: int, target: int, weights: Sequence[float] | None = None) -> list[int] | None:
        """Edge indices from ``source`` to ``target`` inclusive, minimising ``weights``.

        ``weights`` is a per-edge cost (default: free-flow travel time). The source's own
        cost is not counted. ``source == target`` gives a loop back onto the edge's start
        (a vehicle cannot reverse along an edge). Returns None if unreachable.
        """
        w = weights if weights is not None else self.free_flow_times()
        succ = self._succ
        dist: dict[int, float] = {}
        prev: dict[int, int] = {}
        heap: list[tuple[float, int]] = []
        for j in succ[source]:
            d = w[j]
            if d < dist.get(j, math.inf):
                dist[j] = d
                prev[j] = source
                heapq.heappush(heap, (d, j))
        done: set[int] = set()
        while heap:
            d, v = heapq.heappop(heap)
            if v == target:
                path = [v]
                while True:
                    v = prev[v]
                    path.append(v)
                    if v == source:
                        break
                path.reverse()
                return path
            if v in done:
                continue
            done.add(v)
            for j in succ[v]:
                nd = d + w[j]
                if nd < dist.get(j, math.inf):
                    dist[j] = nd
                    prev[j] = v
                    heapq.heappush(heap, (nd, j))
        return None

    @lru_cache(maxsize=1)  # noqa: B019 - one network object per city lives for the process
    def free_flow_times(self) -> list[float]:
        """Per-edge travel time (s) at the speed limit."""
        return (self.length / np.maximum(self.speed_limit, 0.5)).tolist()


def load_network(city: str = "berlin") -> RoadNetwork:
    """The road network of ``city`` (one of CITY_FILES), loaded once per process."""
    key = city.lower()
    if key not in CITY_FILES:
        raise ValueError(f"unknown city {city!r}; choose one of {sorted(CITY_FILES)}")
    return _load(key)


@cache
def _load(city: str) -> RoadNetwork:
    return RoadNetwork(sumo_home().joinpath(*CITY_FILES[city]), name=city)
