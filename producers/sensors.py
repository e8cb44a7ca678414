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
