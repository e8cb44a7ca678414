"""The road network: real city roads, routable everywhere, positions on the drawn roads."""

from __future__ import annotations

import copy
import math
from itertools import pairwise

import numpy as np
import pytest
import sumolib

from producers.network import RoadNetwork, load_network, sumo_home


def metres_to_polyline(lat: float, lon: float, shape: tuple[tuple[float, float], ...]) -> float:
    """Distance in metres from a point to a (lon, lat) polyline, in a local flat frame."""
    kx = 111_320.0 * math.cos(math.radians(lat))
    ky = 110_540.0
    pts = np.array([((x - lon) * kx, (y - lat) * ky) for x, y in shape])
    best = math.inf
    for (ax, ay), (bx, by) in pairwise(pts):
        dx, dy = bx - ax, by - ay
        seg = dx * dx + dy * dy
        f = 0.0 if seg == 0 else min(1.0, max(0.0, -(ax * dx + ay * dy) / seg))
        best = min(best, math.hypot(ax + f * dx, ay + f * dy))
    return best


@pytest.fixture(scope="module")
def berlin() -> RoadNetwork:
    return load_network("berlin")


def test_berlin_is_the_real_adlershof_road_network(berlin: RoadNetwork) -> None:
    assert 600 <= len(berlin) <= 740
    # Junction centre to junction centre: a little more than SUMO's 31.7 km of lane lengths.
    assert 31 < berlin.total_length_km < 45
    lat_min, lon_min, lat_max, lon_max = berlin.bbox
    assert 52.42 < lat_min < lat_max < 52.46
    assert 13.51 < lon_min < lon_max < 13.55
    names = {e.name for e in berlin.edges}
    assert {"Rudower Chaussee", "Ernst-Ruska-Ufer", "Groß-Berliner Damm"} <= names
    for e in berlin.edges:
        assert e.length > 0 and e.lanes >= 1 and e.speed_limit > 0
        assert len(e.shape) >= 2
        assert e.speed_limit_kmh == pytest.approx(e.speed_limit * 3.6)


def test_network_is_cached_per_city(berlin: RoadNetwork) -> None:
    assert load_network("berlin") is berlin
    assert load_network("Berlin") is berlin
    with pytest.raises(ValueError, match="unknown city"):
        load_network("atlantis")


def test_braunschweig_loads() -> None:
    net = load_network("braunschweig")
    assert len(net) > 100
    assert 52.2 < net.bbox[0] < 52.3


def test_every_edge_reaches_every_other(berlin: RoadNetwork) -> None:
    rng = np.random.default_rng(3)
    for a, b in rng.integers(0, len(berlin), (40, 2)).tolist():
        path = berlin.shortest_path(a, b)
        assert path is not None
        assert path[0] == a and path[-1] == b
        for u, v in pairwise(path):
            assert v in berlin.successors(u)
    assert all(berlin.successors(e) for e in range(len(berlin)))


def test_shortest_path_matches_sumolib(berlin: RoadNetwork) -> None:
    sumo_net = sumolib.net.readNet(str(sumo_home() / "tools/game/DRT/osm.net.xml"))
    # Same costs as sumolib (its lane lengths), so the same optimum.
    lengths = [sumo_net.getEdge(e.id).getLength() for e in berlin.edges]
    rng = np.random.default_rng(5)
    for a, b in rng.integers(0, len(berlin), (15, 2)).tolist():
        if a == b:
            continue
        ours = sum(lengths[e] for e in berlin.shortest_path(a, b, lengths) or [])
        _, cost = sumo_net.getShortestPath(
            sumo_net.getEdge(berlin.edges[a].id), sumo_net.getEdge(berlin.edges[b].id), vClass="passenger"
        )
        assert ours == pytest.approx(cost, abs=0.01)


def test_loop_back_to_the_same_edge(berlin: RoadNetwork) -> None:
    path = berlin.shortest_path(5, 5)
    assert path is not None and len(path) >= 2 and path[0] == path[-1] == 5


def test_dead_end_falls_back_to_reverse_edge(berlin: RoadNetwork) -> None:
    e = next(i for i in range(len(berlin)) if berlin.reverse[i] is not None)
    net = copy.copy(berlin)
    net._succ = list(berlin._succ)
    net._succ[e] = []
    assert net.successors(e) == [berlin.reverse[e]]


def test_positions_lie_on_the_drawn_road(berlin: RoadNetwork) -> None:
    rng = np.random.default_rng(7)
    edges = rng.integers(0, len(berlin), 300)
    s = rng.random(300) * berlin.length[edges]
    lat, lon, heading = berlin.positions(edges, s)
    for e, la, lo in zip(edges.tolist(), lat.tolist(), lon.tolist(), strict=True):
        assert metres_to_polyline(la, lo, berlin.edges[e].shape) < 0.5
    assert ((heading >= 0) & (heading < 360)).all()


def test_position_endpoints_and_heading(berlin: RoadNetwork) -> None:
    edge = berlin.edges[0]
    lat0, lon0, _ = berlin.position(0, 0.0)
    lat1, lon1, _ = berlin.position(0, edge.length)
    assert (lon0, lat0) == pytest.approx(edge.shape[0], abs=1e-9)
    assert (lon1, lat1) == pytest.approx(edge.shape[-1], abs=1e-9)
    # Beyond the ends clamps onto the road rather than extrapolating off it.
    assert berlin.position(0, -5.0)[:2] == pytest.approx((lat0, lon0))
    # Heading of a straight piece points along the road, compass style (0 = north, 90 = east).
    (x0, y0), (x1, y1) = edge.shape[-2], edge.shape[-1]
    expected = math.degrees(math.atan2((x1 - x0) * math.cos(math.radians(y0)), y1 - y0)) % 360
    assert berlin.position(0, edge.length - 0.01)[2] == pytest.approx(expected, abs=0.5)


def test_geojson_has_every_road(berlin: RoadNetwork) -> None:
    fc = berlin.geojson()
    assert len(fc["features"]) == len(berlin)
    first = fc["features"][0]
    assert first["geometry"]["type"] == "LineString"
    assert first["id"] == berlin.edges[0].id
