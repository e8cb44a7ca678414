"""Traffic lights: fixed-time signals at the junctions the network marks as signalised."""

from __future__ import annotations

import numpy as np

from producers.network import BoolArray, FloatArray, IntArray, RoadNetwork

SIGNAL_CYCLE = 90.0  # s
MAIN_GREEN = 0.6  # share of the cycle the busier axis of a junction gets


class TrafficLights:
    """The signal phase of every edge ending at a traffic light (others are always green)."""

    def __init__(self, network: RoadNetwork, rng: np.random.Generator) -> None:
        # Approaches to a traffic light alternate by axis (N-S green while E-W is red);
        # the axis carrying more lane capacity gets the longer green.
        net = self.network = network
        heading = net.positions(np.arange(len(net)), net.length)[2]
        axis = (((heading + 45.0) % 180.0) // 90.0).astype(np.int64).tolist()
        capacity: dict[tuple[str, int], float] = {}
        for e in net.edges:
            if e.signal:
                key = (e.to_node, axis[e.index])
                capacity[key] = capacity.get(key, 0.0) + e.lanes * e.speed_limit
        nodes = sorted({node for node, _ in capacity})
        offset = {node: float(rng.uniform(0, SIGNAL_CYCLE)) for node in nodes}
        self.offset: FloatArray = np.array([offset.get(e.to_node, 0.0) for e in net.edges])
        self.main: BoolArray = np.array(
            [
                capacity.get((e.to_node, axis[e.index]), 0.0) >= capacity.get((e.to_node, 1 - axis[e.index]), 0.0)
                for e in net.edges
            ]
        )
        self.green_share: FloatArray = np.where(net.signal, np.where(self.main, MAIN_GREEN, 1.0 - MAIN_GREEN), 1.0)

    def red(self, edges: IntArray, at_line: BoolArray, t: float) -> BoolArray:
        """Which of the vehicles on ``edges`` that reach the stop line (``at_line``) face red at ``t``."""
        phase = (t + self.offset[edges]) % SIGNAL_CYCLE
        red: BoolArray = (
            at_line & self.network.signal[edges] & ((phase < MAIN_GREEN * SIGNAL_CYCLE) != self.main[edges])
        )
        return red
