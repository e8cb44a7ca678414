"""Traffic: the fleet driving on the road network.

A mesoscopic model: each vehicle drives a shortest-time route (travel times include the
queues ahead) at a speed set by the speed limit, its type, the density on its edge
(Greenshields), the weather and nearby incidents. Traffic lights hold vehicles at red and
vehicles queue behind each other on an edge. Private vehicles park between trips for as
long as keeps the number driving at what the roads carry, so a large fleet on a small
network does not gridlock.
"""

from __future__ import annotations

import math

import numpy as np

from producers.clock import Clock
from producers.fleet import VEHICLE_SPECS, Fleet
from producers.network import BoolArray, FloatArray, IntArray, RoadNetwork
from producers.signals import TrafficLights

JAM_DENSITY = 140.0  # vehicles per lane-km at standstill
MIN_FLOW_FACTOR = 0.25  # at jam density a queue still discharges at capacity: no gridlock
REROUTE_DELAY_S = 30.0  # queue ahead that makes drivers look for another route
SATURATION_FLOW = 0.5  # vehicles per second and lane leaving a queue
DECEL = 4.5  # m/s2
TRIP_DECAY_M = 700.0  # trip destinations thin out with distance on this scale
DEMAND_PER_LANE_KM = 30.0  # vehicles driving at once that the network carries without collapsing


class Traffic:
    """Places the fleet, routes its trips and moves it along the roads step by step."""

    def __init__(
        self,
        network: RoadNetwork,
        fleet: Fleet,
        lights: TrafficLights,
        clock: Clock,
        rng: np.random.Generator,
        report_interval_s: float,
        demand_share: float | None = None,
    ) -> None:
        self.network = network
        self.vehicles = fleet
        self.lights = lights
        self.clock = clock
        self.rng = rng  # vehicles and routing
        net = network
        self.edge_len = net.length.tolist()
        self._density_len_km = np.maximum(net.length, 50.0) / 1000.0 * net.lanes
        self._cum_len = np.cumsum(net.length)
        self._mid_x, self._mid_y = net.to_xy(net.mid_lat, net.mid_lon)
        self.entries = np.zeros(len(net), dtype=np.int64)  # vehicles that entered each edge (sensors count them)
        self._weights: list[float] | None = None
        self._edge_speed = net.speed_limit.copy()
        self._flow_factor = np.ones(len(net))
        self._queue_delay = np.zeros(len(net))
        self.incident_factor = np.ones(len(net))  # per-edge speed factor, set by the dispatcher
        self._lane_km = float((net.length * net.lanes).sum()) / 1000.0
        self.trip_time = 120.0  # running estimate of a trip's driving time, s
        # Share of private vehicles that want to drive now (the day's demand curve); None: as many
        # as the roads carry. With it, parked cars stay parked until woken (see ``DayLife``).
        self.demand_share = demand_share
        self.park_until_woken = demand_share is not None
        self._place(report_interval_s)

    # -- setup -------------------------------------------------------------------------

    def _place(self, report_interval_s: float) -> None:
        """Bus lines, positions and first trips; report phases are drawn here to keep the draw order."""
        fleet, rng, net = self.vehicles, self.rng, self.network
        buses = [i for i, t in enumerate(fleet.type) if t == "bus"]
        for j in range(0, len(buses), 3):  # three buses per line
            a = b = self.random_edge()
            while b == a:
                b = self.random_edge()
            for i in buses[j : j + 3]:
                fleet.terminals[i] = (a, b)
        n = len(fleet)
        fleet.edge[:] = [self.random_edge() for _ in range(n)]
        fleet.s[:] = rng.uniform(0.0, 1.0, n) * net.length[fleet.edge]
        fleet.speed[:] = np.minimum(net.speed_limit[fleet.edge], fleet.desired) * 0.8
        fleet.next_report[:] = rng.uniform(0.0, report_interval_s, n)
        # Start in the steady state: the share of parked vehicles parking sizing aims for.
        share = self.parking_time() / (self.parking_time() + self.trip_time)
        parked = fleet.parks & (rng.random(n) < share)
        fleet.hold_until[parked] = rng.exponential(max(self.parking_time(), 1.0), int(parked.sum()))
        fleet.speed[parked] = 0.0
        for i in range(n):
            self.new_trip(i)
        fleet.trip_start[:] = np.nan  # first trips started before the clock: keep them out of trip_time

    def parking_time(self) -> float:
        """Mean time a vehicle parks between trips so that about DEMAND_PER_LANE_KM x lane-km
        vehicles drive at once: a small network cannot carry thousands of cars at the same time."""
        fleet = self.vehicles
        parkers = int(fleet.parks.sum())
        if parkers == 0:
            return 0.0
        driving_share = (DEMAND_PER_LANE_KM * self._lane_km - (len(fleet) - parkers)) / parkers
        floor = 0.1
        if self.demand_share is not None:
            driving_share, floor = min(max(driving_share, 0.1), self.demand_share), 0.005
        if driving_share >= 1.0:
            return 0.0
        return self.trip_time * (1.0 / max(driving_share, floor) - 1.0)

    def in_traffic(self) -> BoolArray:
        """Vehicles on the carriageway now (everyone except those parked at the kerb)."""
        fleet = self.vehicles
        parked: BoolArray = (fleet.parks | fleet.off_duty) & (fleet.hold_until > self.clock.elapsed)
        return ~parked

    def edge_counts(self, moving: BoolArray | None = None) -> IntArray:
        """Vehicles in traffic per edge right now (parked ones excluded)."""
        moving = self.in_traffic() if moving is None else moving
        return np.bincount(self.vehicles.edge[moving], minlength=len(self.network))

    def random_edge(self) -> int:
        """An edge drawn in proportion to its length (uniform per road metre)."""
        x = float(self.rng.random()) * float(self._cum_len[-1])
        return min(int(np.searchsorted(self._cum_len, x, side="right")), len(self._cum_len) - 1)

    def _destination(self, here: int) -> int:
        """A trip destination: per road metre, less likely the farther away (most trips are local)."""
        net = self.network
        d = np.hypot(self._mid_x - self._mid_x[here], self._mid_y - self._mid_y[here])
        w = np.cumsum(net.length * np.exp(-d / TRIP_DECAY_M))
        w[here:] -= net.length[here]  # never the edge we are on (its weight is its length)
        x = float(self.rng.random()) * float(w[-1])
        return min(int(np.searchsorted(w, x, side="right")), len(w) - 1)

    # -- routing -----------------------------------------------------------------------

    def _route_weights(self) -> list[float]:
        # Current travel times, computed at most once per step and only if someone routes.
        if self._weights is None:
            self._weights = (self.network.length / np.maximum(self._edge_speed, 0.5) + self._queue_delay).tolist()
        return self._weights

    def set_route(self, i: int, target: int, target_s: float) -> None:
        """Route vehicle ``i`` to position ``target_s`` on edge ``target``."""
        fleet = self.vehicles
        e = int(fleet.edge[i])
        if e == target and fleet.s[i] <= target_s:
            path: list[int] | None = [e]
        else:
            path = self.network.shortest_path(e, target, self._route_weights())
        if path is None:  # unreachable (cannot happen inside one component): start afresh elsewhere
            fleet.edge[i] = self.random_edge()
            fleet.s[i] = 0.0
            path = self.network.shortest_path(int(fleet.edge[i]), target, self._route_weights()) or [target]
        fleet.route[i] = path
        fleet.route_pos[i] = 0
        fleet.dest_s[i] = target_s
        fleet.stop_s[i] = target_s if len(path) == 1 else np.inf

    def new_trip(self, i: int) -> None:
        """Send vehicle ``i`` to its next destination (a bus to its other terminal)."""
        fleet = self.vehicles
        here = int(fleet.edge[i])
        terminals = fleet.terminals[i]
        if terminals is not None:
            target = terminals[1] if fleet.route[i] and fleet.route[i][-1] == terminals[0] else terminals[0]
            if target == here:
                target = terminals[0] if target == terminals[1] else terminals[1]
        else:
            target = self._destination(here)
        length = self.edge_len[target]
        self.set_route(i, target, length * float(self.rng.uniform(0.1, 0.9)))
        fleet.trip_start[i] = max(self.clock.elapsed, float(fleet.hold_until[i]))

    # -- stepping ----------------------------------------------------------------------

    def update_edge_speeds(self, counts: IntArray) -> None:
        """Speeds and queue delays per edge from this step's ``counts``; routes see them from now on."""
        net = self.network
        self._weights = None
        # A vehicle's own presence does not slow it: density is of the others on the edge.
        density = np.maximum(counts - 1, 0) / self._density_len_km
        # Greenshields up to the critical density (half the jam density); beyond it a queue
        # still discharges at capacity, so speed falls as capacity/density instead of to zero.
        # Without that, a briefly overloaded edge collapses and never drains.
        critical = JAM_DENSITY / 2
        factor = np.where(
            density <= critical,
            1.0 - density / JAM_DENSITY,
            JAM_DENSITY / (4.0 * np.maximum(density, critical)),
        )
        self._flow_factor = np.clip(factor, MIN_FLOW_FACTOR, 1.0)
        self._edge_speed = net.speed_limit * self._flow_factor * self.incident_factor
        # Waiting time in the queue at the end of the edge, as a navigation app estimates it.
        fleet = self.vehicles
        stopped = (fleet.speed < 1.0) & self.in_traffic()
        queued = np.bincount(fleet.edge[stopped], minlength=len(net))
        self._queue_delay = queued / (SATURATION_FLOW * net.lanes * self.lights.green_share)

    def move(self, dt: float, weather: float) -> list[int]:
        """Drive everyone ``dt`` seconds at ``weather`` x their speed; return those that reached their stop."""
        fleet, net, t = self.vehicles, self.network, self.clock.elapsed
        e = fleet.edge
        length = net.length[e]
        limit = net.speed_limit[e]
        target = np.minimum(limit, fleet.desired) * self._flow_factor[e] * self.incident_factor[e] * weather
        if fleet.responding.any():  # blue lights: above the limit, others make way
            r = fleet.responding
            fast = np.minimum(limit * 1.4, fleet.desired * 1.35)
            fast *= np.maximum(self._flow_factor[e], 0.5) * np.sqrt(self.incident_factor[e]) * weather
            target = np.where(r, fast, target)
        target *= 1.0 + 0.03 * self.rng.standard_normal(len(fleet))
        v = fleet.speed + np.clip(target - fleet.speed, -DECEL * dt, fleet.accel * dt)
        v[fleet.hold_until > t] = 0.0
        np.maximum(v, 0.0, out=v)
        s_old = fleet.s
        s = s_old + v * dt

        # Red light: the first vehicle stops at the line (emergency vehicles on duty go through).
        red = self.lights.red(e, s >= length, t)
        red &= ~fleet.responding
        s[red] = length[red]
        s = self._keep_gaps(s_old, s)
        v = (s - s_old) / dt
        fleet.s = s
        fleet.speed = v

        arrived = s >= fleet.stop_s
        s[arrived] = fleet.stop_s[arrived]
        over = (s >= length) & ~arrived & ~red
        arrivals: list[int] = np.flatnonzero(arrived).tolist()
        if over.any():
            arrivals += self._advance_edges(np.flatnonzero(over).tolist())
        return arrivals

    def _keep_gaps(self, s_old: FloatArray, s: FloatArray) -> FloatArray:
        """Queue vehicles behind each other on their edge instead of stacking them on one point.

        Vehicles of one edge, front first, may not pass the one ahead minus its length and a
        margin (shared over the lanes): p_k = min_j<=k (s_j + G_j) - G_k with G the running sum
        of gaps, a per-edge cumulative minimum done for all edges at once. Nobody moves backwards.
        """
        fleet, net = self.vehicles, self.network
        # Parked, dwelling and on-scene vehicles stand aside; blue lights get through.
        mask = (fleet.hold_until <= self.clock.elapsed) & ~fleet.responding
        idx = np.flatnonzero(mask)
        if len(idx) < 2:
            return s
        edges = fleet.edge[idx]
        order = np.lexsort((-s[idx], edges))
        idx, edges = idx[order], edges[order]
        gap = (fleet.length[idx] + 2.5) / net.lanes[edges]
        first = np.empty(len(idx), dtype=bool)
        first[0] = True
        np.not_equal(edges[1:], edges[:-1], out=first[1:])
        group = np.cumsum(first) - 1
        before = np.cumsum(gap) - gap  # gaps of everyone ahead, counted across edges
        offset = before - before[first][group]  # ... and only within the edge
        big = 1e7 * group  # later edges always smaller, so the running minimum restarts per edge
        limit = np.minimum.accumulate(s[idx] + offset - big) + big - offset
        out = s.copy()
        out[idx] = np.maximum(np.minimum(s[idx], limit), np.minimum(s_old[idx], s[idx]))
        return out

    def _advance_edges(self, movers: list[int]) -> list[int]:
        """Carry vehicles past the end of their edge along their route; return those that arrive."""
        fleet, lengths, entries = self.vehicles, self.edge_len, self.entries
        jammed = (self._queue_delay > REROUTE_DELAY_S).tolist()
        arrived = []
        for i in movers:
            route, k = fleet.route[i], fleet.route_pos[i]
            rem = float(fleet.s[i]) - lengths[route[k]]
            last = len(route) - 1
            while True:
                k += 1
                e = route[k]
                entries[e] += 1
                if k == last and rem >= fleet.dest_s[i]:
                    rem = fleet.dest_s[i]
                    arrived.append(i)
                    break
                if rem < lengths[e] or k == last:
                    break
                rem -= lengths[e]
            fleet.route_pos[i] = k
            fleet.edge[i] = e
            fleet.s[i] = rem
            if k == last:
                fleet.stop_s[i] = fleet.dest_s[i]
            elif k < last - 1 and jammed[route[k + 1]] and self.rng.random() < 0.5:
                # Like a navigation app: half of the drivers heading into a jam look for another way.
                self.set_route(i, route[-1], fleet.dest_s[i])
        return arrived

    def arrive(self, i: int) -> None:
        """Vehicle ``i`` reached its destination: dwell or park there, then set off on a new trip."""
        fleet = self.vehicles
        fleet.stop_s[i] = np.inf
        elapsed = self.clock.elapsed
        if fleet.parks[i] and math.isfinite(fleet.trip_start[i]):
            self.trip_time += 0.02 * (elapsed - float(fleet.trip_start[i]) - self.trip_time)
        lo, hi = VEHICLE_SPECS[fleet.type[i]].dwell_s
        dwell = float(self.rng.uniform(lo, hi)) if hi > 0 else 0.0
        if fleet.parks[i] and self.park_until_woken:  # parked until the day's demand wakes it
            fleet.hold_until[i] = np.inf
            fleet.speed[i] = 0.0
            fleet.parked_since[i] = elapsed
            self.new_trip(i)
            return
        if fleet.parks[i]:
            dwell += float(self.rng.exponential(max(self.parking_time(), 1e-9)))
        if dwell > 0:
            fleet.hold_until[i] = elapsed + dwell
            fleet.speed[i] = 0.0
        self.new_trip(i)
