"""Traffic sensors: where they stand and how they classify congestion."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from producers.network import RoadNetwork

CONGESTION = ((0.7, "free"), (0.5, "light"), (0.35, "moderate"), (0.2, "heavy"))


def congestion_level(speed_kmh: float, limit_kmh: float) -> str:
    """Congestion class from the ratio of observed speed to the speed limit."""
    ratio = speed_kmh / limit_kmh if limit_kmh > 0 else 1.0
    for threshold, level in CONGESTION:
        if ratio >= threshold:
            return level
    return "severe"


@dataclass
class TrafficSensor:
    """A counting camera watching one edge."""

    device_id: str
    edge: int
    segment_id: str
    road_name: str
    lat: float
    lon: float
    speed_limit_kmh: float
    next_report: float
    history: deque[tuple[float, int]]  # (time, cumulative entries) for intensity


@lru_cache(maxsize=8)
def busy_edges(network: RoadNetwork, trips: int = 300) -> list[int]:
    """Edges ranked by how many shortest paths of random trips use them (fixed seed: sensors
    are infrastructure and stay put whatever the simulation seed)."""
    rng = np.random.default_rng(0)
    usage = np.zeros(len(network))
    weights = network.free_flow_times()
    pairs = rng.integers(0, len(network), (trips, 2))
    for a, b in pairs.tolist():
        path = network.shortest_path(a, b, weights) if a != b else None
        if path:
            usage[path] += 1
    score = usage * network.lanes * np.where(network.length >= 40.0, 1.0, 0.1)
    return [int(e) for e in np.lexsort((np.arange(len(network)), -score))]


def place_sensors(network: RoadNetwork, count: int, interval_s: float) -> list[TrafficSensor]:
    """Up to ``count`` cameras on the busiest edges, spread apart, phases spread over the interval."""
    net = network
    ranked = busy_edges(net)
    x, y = net.to_xy(net.mid_lat, net.mid_lon)
    chosen: list[int] = []
    for spacing in (250.0, 120.0, 0.0):  # relax spacing only if the network is too small
        for e in ranked:
            if len(chosen) >= count:
                break
            if e in chosen or net.reverse[e] in chosen:
                continue
            if chosen and float(np.min(np.hypot(x[chosen] - x[e], y[chosen] - y[e]))) < spacing:
                continue
            chosen.append(e)
    n = max(len(chosen), 1)
    return [
        TrafficSensor(
            device_id=f"cam-{k + 1:03d}",
            edge=e,
            segment_id=net.edges[e].id,
            road_name=net.edges[e].name,
            lat=round(float(net.mid_lat[e]), 7),
            lon=round(float(net.mid_lon[e]), 7),
            speed_limit_kmh=round(float(net.speed_limit[e]) * 3.6, 1),
            next_report=interval_s * (k + 1) / n,
            history=deque([(0.0, 0)]),
        )
        for k, e in enumerate(chosen)
    ]
