"""The city simulation: vehicles, traffic sensors, weather stations and incidents.

A mesoscopic model on a real road network: each vehicle drives a shortest-time route
(travel times include the queues ahead) at a speed set by the speed limit, its type,
the density on its edge (Greenshields), the weather and nearby incidents. Traffic
lights hold vehicles at red and vehicles queue behind each other on an edge. Private
vehicles park between trips for as long as keeps the number driving at what the roads
carry, so a large fleet on a small network does not gridlock.

Everything is driven by seeded generators and the simulated clock, so a config gives
the same event list every time. Vehicle state lives in numpy arrays because 2,000
vehicles at 1 Hz must cost far less than a second of CPU per simulated second.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from producers.fleet import EMERGENCY, VEHICLE_SPECS, Fleet, fleet_mix
from producers.incidents import Incident, IncidentGenerator, slowdown
from producers.network import BoolArray, FloatArray, IntArray, RoadNetwork, load_network
from producers.sensors import TrafficSensor, busy_edges, congestion_level
from producers.weather import CityWeather, WeatherStation, place_stations

Event = tuple[str, str, dict[str, Any]]

JAM_DENSITY = 140.0  # vehicles per lane-km at standstill
MIN_FLOW_FACTOR = 0.25  # at jam density a queue still discharges at capacity: no gridlock
REROUTE_DELAY_S = 30.0  # queue ahead that makes drivers look for another route
SATURATION_FLOW = 0.5  # vehicles per second and lane leaving a queue
DECEL = 4.5  # m/s2
SIGNAL_CYCLE = 90.0  # s
MAIN_GREEN = 0.6  # share of the cycle the busier axis of a junction gets
TRIP_DECAY_M = 700.0  # trip destinations thin out with distance on this scale
DEMAND_PER_LANE_KM = 30.0  # vehicles driving at once that the network carries without collapsing
INTENSITY_WINDOW = 300.0  # s of entries used to extrapolate vehicles/h
COMPASS = ("North", "North-East", "East", "South-East", "South", "South-West", "West", "North-West")


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; the same config (with a fixed ``start``) gives the same events."""

    city: str = "berlin"
    vehicles: int = 1000
    traffic_sensors: int = 40
    weather_stations: int = 4
    incidents_per_hour: float = 6.0
    report_interval_s: float = 1.0
    sensor_interval_s: float = 10.0
    weather_interval_s: float = 60.0
    seed: int = 42
    start: datetime | None = None


class CitySimulation:
    """Steps a city forward in simulated time and returns the events each step produces."""

    def __init__(self, config: SimulationConfig, network: RoadNetwork | None = None) -> None:
        if (
            config.vehicles < 0
            or min(config.report_interval_s, config.sensor_interval_s, config.weather_interval_s) <= 0
        ):
            raise ValueError("vehicles must be >= 0 and intervals > 0")
        self.config = config
        self.network = network if network is not None else load_network(config.city)
        start = config.start or datetime.now(UTC).replace(microsecond=0)
        self.start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
        self.now = self.start
        self.elapsed = 0.0
        seeds = np.random.SeedSequence(config.seed).spawn(5)
        self._rng = np.random.default_rng(seeds[0])  # vehicles and routing
        self._id_rng = np.random.default_rng(seeds[1])  # event ids only, so ids never perturb the city
        self._aux_rng = np.random.default_rng(seeds[2])  # sensors, stations, measurement noise
        net = self.network
        self._edge_ids = [e.id for e in net.edges]
        self._edge_names = [e.name for e in net.edges]
        self._edge_len = net.length.tolist()
        self._density_len_km = np.maximum(net.length, 50.0) / 1000.0 * net.lanes
        self._cum_len = np.cumsum(net.length)
        self._mid_x, self._mid_y = net.to_xy(net.mid_lat, net.mid_lon)
        self._entries = np.zeros(len(net), dtype=np.int64)
        self._setup_signals()
        self._weights: list[float] | None = None
        self._edge_speed = net.speed_limit.copy()
        self._flow_factor = np.ones(len(net))
        self._queue_delay = np.zeros(len(net))
        self._lane_km = float((net.length * net.lanes).sum()) / 1000.0
        self.trip_time = 120.0  # running estimate of a trip's driving time, s

        self.weather = CityWeather(np.random.default_rng(seeds[3]), self.now, (net.bbox[1] + net.bbox[3]) / 2)
        self.incident_generator = IncidentGenerator(net, config.incidents_per_hour, np.random.default_rng(seeds[4]))
        self.incidents: list[Incident] = []
        self._pending_updates: list[Incident] = []
        self._incident_factor = np.ones(len(net))
        self.vehicles = self._make_fleet()
        self._units = {t: [i for i, x in enumerate(self.vehicles.type) if x == t] for t in EMERGENCY}
        self.sensors = self._place_sensors()
        self.stations: list[WeatherStation] = place_stations(
            net, config.weather_stations, self._aux_rng, config.weather_interval_s
        )

    # -- setup -------------------------------------------------------------------------

    def _setup_signals(self) -> None:
        # Approaches to a traffic light alternate by axis (N-S green while E-W is red);
        # the axis carrying more lane capacity gets the longer green.
        net = self.network
        heading = net.positions(np.arange(len(net)), net.length)[2]
        axis = (((heading + 45.0) % 180.0) // 90.0).astype(np.int64).tolist()
        capacity: dict[tuple[str, int], float] = {}
        for e in net.edges:
            if e.signal:
                key = (e.to_node, axis[e.index])
                capacity[key] = capacity.get(key, 0.0) + e.lanes * e.speed_limit
        nodes = sorted({node for node, _ in capacity})
        offset = {node: float(self._aux_rng.uniform(0, SIGNAL_CYCLE)) for node in nodes}
        self._sig_offset = np.array([offset.get(e.to_node, 0.0) for e in net.edges])
        self._sig_main = np.array(
            [
                capacity.get((e.to_node, axis[e.index]), 0.0) >= capacity.get((e.to_node, 1 - axis[e.index]), 0.0)
                for e in net.edges
            ]
        )
        self._green_share = np.where(net.signal, np.where(self._sig_main, MAIN_GREEN, 1.0 - MAIN_GREEN), 1.0)

    def _make_fleet(self) -> Fleet:
        cfg, rng, net = self.config, self._rng, self.network
        types = [t for t, k in fleet_mix(cfg.vehicles).items() for _ in range(k)]
        fleet = Fleet(types)
        counters = dict.fromkeys(VEHICLE_SPECS, 0)
        year = self.start.year
        for i, t in enumerate(types):
            spec = VEHICLE_SPECS[t]
            counters[t] += 1
            dev = f"{t}-{counters[t]:04d}"
            make, model, fuels = spec.models[int(rng.integers(len(spec.models)))]
            fleet.device_id.append(dev)
            fleet.index[dev] = i
            fleet.static.append(
                {
                    "make": make,
                    "model": model,
                    "year": year - int(rng.integers(0, spec.max_age + 1)),
                    "fuel_type": fuels[int(rng.integers(len(fuels)))],
                    "vehicle_type": t,
                }
            )
            fleet.desired[i] = spec.desired_kmh / 3.6 * (float(rng.uniform(0.85, 1.05)) if t != "bus" else 1.0)
        buses = [i for i, t in enumerate(types) if t == "bus"]
        for j in range(0, len(buses), 3):  # three buses per line
            a = b = self._random_edge()
            while b == a:
                b = self._random_edge()
            for i in buses[j : j + 3]:
                fleet.terminals[i] = (a, b)
        n = len(types)
        fleet.edge[:] = [self._random_edge() for _ in range(n)]
        fleet.s[:] = rng.uniform(0.0, 1.0, n) * net.length[fleet.edge]
        fleet.speed[:] = np.minimum(net.speed_limit[fleet.edge], fleet.desired) * 0.8
        fleet.next_report[:] = rng.uniform(0.0, cfg.report_interval_s, n)
        self.vehicles = fleet
        # Start in the steady state: the share of parked vehicles parking sizing aims for.
        share = self.parking_time() / (self.parking_time() + self.trip_time)
        parked = fleet.parks & (rng.random(n) < share)
        fleet.hold_until[parked] = rng.exponential(max(self.parking_time(), 1.0), int(parked.sum()))
        fleet.speed[parked] = 0.0
        for i in range(n):
            self._new_trip(i)
        fleet.trip_start[:] = np.nan  # first trips started before the clock: keep them out of trip_time
        return fleet

    def parking_time(self) -> float:
        """Mean time a vehicle parks between trips so that about DEMAND_PER_LANE_KM x lane-km
        vehicles drive at once: a small network cannot carry thousands of cars at the same time."""
        fleet = self.vehicles
        parkers = int(fleet.parks.sum())
        if parkers == 0:
            return 0.0
        driving_share = (DEMAND_PER_LANE_KM * self._lane_km - (len(fleet) - parkers)) / parkers
        if driving_share >= 1.0:
            return 0.0
        return self.trip_time * (1.0 / max(driving_share, 0.1) - 1.0)

    def in_traffic(self) -> BoolArray:
        """Vehicles on the carriageway now (everyone except those parked at the kerb)."""
        fleet = self.vehicles
        parked: BoolArray = fleet.parks & (fleet.hold_until > self.elapsed)
        return ~parked

    def _random_edge(self) -> int:
        """An edge drawn in proportion to its length (uniform per road metre)."""
        x = float(self._rng.random()) * float(self._cum_len[-1])
        return min(int(np.searchsorted(self._cum_len, x, side="right")), len(self._cum_len) - 1)

    def _destination(self, here: int) -> int:
        """A trip destination: per road metre, less likely the farther away (most trips are local)."""
        net = self.network
        d = np.hypot(self._mid_x - self._mid_x[here], self._mid_y - self._mid_y[here])
        w = np.cumsum(net.length * np.exp(-d / TRIP_DECAY_M))
        w[here:] -= net.length[here]  # never the edge we are on (its weight is its length)
        x = float(self._rng.random()) * float(w[-1])
        return min(int(np.searchsorted(w, x, side="right")), len(w) - 1)

    def _place_sensors(self) -> list[TrafficSensor]:
        net = self.network
        ranked = busy_edges(net)
        x, y = net.to_xy(net.mid_lat, net.mid_lon)
        chosen: list[int] = []
        for spacing in (250.0, 120.0, 0.0):  # relax spacing only if the network is too small
            for e in ranked:
                if len(chosen) >= self.config.traffic_sensors:
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
                segment_id=self._edge_ids[e],
                road_name=self._edge_names[e],
                lat=round(float(net.mid_lat[e]), 7),
                lon=round(float(net.mid_lon[e]), 7),
                speed_limit_kmh=round(float(net.speed_limit[e]) * 3.6, 1),
                next_report=self.config.sensor_interval_s * (k + 1) / n,
                history=deque([(0.0, 0)]),
            )
            for k, e in enumerate(chosen)
        ]

    # -- routing -----------------------------------------------------------------------

    def _route_weights(self) -> list[float]:
        # Current travel times, computed at most once per step and only if someone routes.
        if self._weights is None:
            self._weights = (self.network.length / np.maximum(self._edge_speed, 0.5) + self._queue_delay).tolist()
        return self._weights

    def _set_route(self, i: int, target: int, target_s: float) -> None:
        fleet = self.vehicles
        e = int(fleet.edge[i])
        if e == target and fleet.s[i] <= target_s:
            path: list[int] | None = [e]
        else:
            path = self.network.shortest_path(e, target, self._route_weights())
        if path is None:  # unreachable (cannot happen inside one component): start afresh elsewhere
            fleet.edge[i] = self._random_edge()
            fleet.s[i] = 0.0
            path = self.network.shortest_path(int(fleet.edge[i]), target, self._route_weights()) or [target]
        fleet.route[i] = path
        fleet.route_pos[i] = 0
        fleet.dest_s[i] = target_s
        fleet.stop_s[i] = target_s if len(path) == 1 else np.inf

    def _new_trip(self, i: int) -> None:
        fleet = self.vehicles
        here = int(fleet.edge[i])
        terminals = fleet.terminals[i]
        if terminals is not None:
            target = terminals[1] if fleet.route[i] and fleet.route[i][-1] == terminals[0] else terminals[0]
            if target == here:
                target = terminals[0] if target == terminals[1] else terminals[1]
        else:
            target = self._destination(here)
        length = self._edge_len[target]
        self._set_route(i, target, length * float(self._rng.uniform(0.1, 0.9)))
        fleet.trip_start[i] = max(self.elapsed, float(fleet.hold_until[i]))

    # -- stepping ----------------------------------------------------------------------

    def step(self, dt: float = 1.0) -> list[Event]:
        """Advance simulated time by ``dt`` seconds; return the events due in that step."""
        if dt <= 0:
            raise ValueError("dt must be positive")
        self.elapsed += dt
        self.now = self.start + timedelta(seconds=self.elapsed)
        self._weights = None
        events: list[Event] = []
        self.weather.advance(dt, self.now)
        self._update_edge_speeds(self.edge_counts())
        self._start_incidents(dt)
        self._move(dt)
        self._finish_incidents(events)
        moving = self.in_traffic()
        counts = self.edge_counts(moving)
        self._report_vehicles(events)
        self._report_sensors(moving, counts, events)
        self._report_weather(counts, events)
        return events

    def _update_edge_speeds(self, counts: IntArray) -> None:
        net = self.network
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
        self._edge_speed = net.speed_limit * self._flow_factor * self._incident_factor
        # Waiting time in the queue at the end of the edge, as a navigation app estimates it.
        fleet = self.vehicles
        stopped = (fleet.speed < 1.0) & self.in_traffic()
        queued = np.bincount(fleet.edge[stopped], minlength=len(net))
        self._queue_delay = queued / (SATURATION_FLOW * net.lanes * self._green_share)

    def _move(self, dt: float) -> None:
        fleet, net, t = self.vehicles, self.network, self.elapsed
        e = fleet.edge
        length = net.length[e]
        limit = net.speed_limit[e]
        weather = self.weather.speed_factor
        target = np.minimum(limit, fleet.desired) * self._flow_factor[e] * self._incident_factor[e] * weather
        if fleet.responding.any():  # blue lights: above the limit, others make way
            r = fleet.responding
            fast = np.minimum(limit * 1.4, fleet.desired * 1.35)
            fast *= np.maximum(self._flow_factor[e], 0.5) * np.sqrt(self._incident_factor[e]) * weather
            target = np.where(r, fast, target)
        target *= 1.0 + 0.03 * self._rng.standard_normal(len(fleet))
        v = fleet.speed + np.clip(target - fleet.speed, -DECEL * dt, fleet.accel * dt)
        v[fleet.hold_until > t] = 0.0
        np.maximum(v, 0.0, out=v)
        s_old = fleet.s
        s = s_old + v * dt

        # Red light: the first vehicle stops at the line (emergency vehicles on duty go through).
        phase = (t + self._sig_offset[e]) % SIGNAL_CYCLE
        red = (s >= length) & net.signal[e] & ((phase < MAIN_GREEN * SIGNAL_CYCLE) != self._sig_main[e])
        red &= ~fleet.responding
        s[red] = length[red]
        s = self._keep_gaps(s_old, s)
        v = (s - s_old) / dt
        fleet.s = s
        fleet.speed = v

        arrived = s >= fleet.stop_s
        s[arrived] = fleet.stop_s[arrived]
        over = (s >= length) & ~arrived & ~red
        arrivals = np.flatnonzero(arrived).tolist()
        if over.any():
            arrivals += self._advance_edges(np.flatnonzero(over).tolist())
        for i in arrivals:
            self._arrive(i)

    def _keep_gaps(self, s_old: FloatArray, s: FloatArray) -> FloatArray:
        """Queue vehicles behind each other on their edge instead of stacking them on one point.

        Vehicles of one edge, front first, may not pass the one ahead minus its length and a
        margin (shared over the lanes): p_k = min_j<=k (s_j + G_j) - G_k with G the running sum
        of gaps, a per-edge cumulative minimum done for all edges at once. Nobody moves backwards.
        """
        fleet, net = self.vehicles, self.network
        # Parked, dwelling and on-scene vehicles stand aside; blue lights get through.
        mask = (fleet.hold_until <= self.elapsed) & ~fleet.responding
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
        fleet, lengths, entries = self.vehicles, self._edge_len, self._entries
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
            elif k < last - 1 and jammed[route[k + 1]] and self._rng.random() < 0.5:
                # Like a navigation app: half of the drivers heading into a jam look for another way.
                self._set_route(i, route[-1], fleet.dest_s[i])
        return arrived

    def _arrive(self, i: int) -> None:
        fleet = self.vehicles
        fleet.stop_s[i] = np.inf
        if fleet.status[i] == "responding":
            fleet.status[i] = "on_scene"
            fleet.responding[i] = False
            fleet.speed[i] = 0.0
            fleet.hold_until[i] = np.inf  # stays until the incident is cleared
            inc = self._incident(fleet.incident[i])
            if inc is not None and inc.on_scene_at is None:
                inc.on_scene_at = self.elapsed
                self._announce(inc)
            return
        if fleet.parks[i] and not math.isnan(fleet.trip_start[i]):
            self.trip_time += 0.02 * (self.elapsed - float(fleet.trip_start[i]) - self.trip_time)
        lo, hi = VEHICLE_SPECS[fleet.type[i]].dwell_s
        dwell = float(self._rng.uniform(lo, hi)) if hi > 0 else 0.0
        if fleet.parks[i]:
            dwell += float(self._rng.exponential(max(self.parking_time(), 1e-9)))
        if dwell > 0:
            fleet.hold_until[i] = self.elapsed + dwell
            fleet.speed[i] = 0.0
        self._new_trip(i)

    # -- incidents ---------------------------------------------------------------------

    @property
    def active_incidents(self) -> list[Incident]:
        return [inc for inc in self.incidents if inc.active]

    def _incident(self, incident_id: str | None) -> Incident | None:
        for inc in self.incidents:
            if inc.id == incident_id:
                return inc
        return None

    def trigger_incident(
        self, kind: str | None = None, severity: str | None = None, edge: int | str | None = None
    ) -> Incident:
        """Start an incident now (demo button, tests); its Active event comes with the next step."""
        e = self.network.index[edge] if isinstance(edge, str) else (None if edge is None else int(edge))
        inc = self.incident_generator.create(self.elapsed, kind, severity, e)
        self._open(inc)
        self._announce(inc)
        return inc

    def _open(self, inc: Incident) -> None:
        inc.pending_units = inc.units_needed()
        self.incidents.append(inc)
        self._incident_factor = slowdown(self.network, self.incidents)
        self._dispatch(inc)
        lead = inc.responders[0] if inc.responders else None
        inc.reporter = self.vehicles.device_id[lead] if lead is not None else f"dispatch-{self.network.name}"

    def _announce(self, inc: Incident) -> None:
        # One emergency event per incident per step, carrying its latest state.
        if all(p is not inc for p in self._pending_updates):
            self._pending_updates.append(inc)

    def _start_incidents(self, dt: float) -> None:
        for _ in range(self.incident_generator.onsets(dt)):
            inc = self.incident_generator.create(self.elapsed)
            self._open(inc)
            self._announce(inc)
        for inc in self.incidents:
            if inc.active and inc.pending_units:
                self._dispatch(inc)
        # Forget incidents resolved over an hour ago so a long run stays small.
        self.incidents = [i for i in self.incidents if i.active or self.elapsed - (i.resolved_at or 0) < 3600]

    def _dispatch(self, inc: Incident) -> None:
        """Send the nearest free unit of each needed type; types with none free stay pending."""
        fleet, net = self.vehicles, self.network
        ix, iy = net.to_xy(inc.lat, inc.lon)
        still: list[str] = []
        for unit in inc.pending_units:
            free = [i for i in self._units.get(unit, ()) if fleet.status[i] == "patrolling"]
            if not free:
                still.append(unit)
                continue
            lat, lon, _ = net.positions(fleet.edge[free], fleet.s[free])
            x, y = net.to_xy(lat, lon)
            i = free[int(np.argmin(np.hypot(x - ix, y - iy)))]
            fleet.status[i] = "responding"
            fleet.incident[i] = inc.id
            fleet.responding[i] = True
            fleet.hold_until[i] = 0.0
            inc.responders.append(i)
            self._set_route(i, inc.edge, inc.s)
            if len(fleet.route[i]) == 1 and fleet.s[i] >= inc.s:
                self._arrive(i)
        inc.pending_units = still

    def _finish_incidents(self, events: list[Event]) -> None:
        fleet = self.vehicles
        changed = False
        for inc in self.incidents:
            if inc.active and inc.due_to_resolve(self.elapsed):
                inc.status = "Resolved"
                inc.resolved_at = self.elapsed
                inc.pending_units = []
                changed = True
                for i in inc.responders:
                    if fleet.incident[i] == inc.id:
                        fleet.status[i] = "patrolling"
                        fleet.incident[i] = None
                        fleet.responding[i] = False
                        fleet.hold_until[i] = 0.0
                        self._new_trip(i)
                self._announce(inc)
        if changed:
            self._incident_factor = slowdown(self.network, self.incidents)
        if self._pending_updates:
            ids = self._ids(len(self._pending_updates))
            ts = self.now.isoformat()
            for event_id, inc in zip(ids, self._pending_updates, strict=True):
                events.append(
                    (
                        "emergency_data",
                        inc.reporter,
                        {
                            "id": event_id,
                            "device_id": inc.reporter,
                            "timestamp": ts,
                            "location": [inc.lat, inc.lon],
                            "incidentId": inc.id,
                            "incident_type": inc.kind.name,
                            "status": inc.status,
                            "description": inc.description(),
                            "severity": inc.severity,
                            "road_segment": inc.road_segment,
                            "road_name": inc.road_name,
                            "responders": len(inc.responders),
                        },
                    )
                )
            self._pending_updates = []

    # -- reports -----------------------------------------------------------------------

    def _ids(self, n: int) -> list[str]:
        """``n`` version-4 style UUID strings drawn from the seeded id generator."""
        if n == 0:
            return []
        raw = self._id_rng.integers(0, 256, (n, 16), dtype=np.uint8)
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
        h = raw.tobytes().hex()
        parts = (
            (h[k : k + 8], h[k + 8 : k + 12], h[k + 12 : k + 16], h[k + 16 : k + 20], h[k + 20 : k + 32])
            for k in range(0, 32 * n, 32)
        )
        return ["-".join(p) for p in parts]

    def _report_vehicles(self, events: list[Event]) -> None:
        fleet, t, interval = self.vehicles, self.elapsed, self.config.report_interval_s
        due = np.flatnonzero(fleet.next_report <= t + 1e-9)
        if len(due) == 0:
            return
        late = t - fleet.next_report[due]
        fleet.next_report[due] += interval * (np.floor(late / interval + 1e-9) + 1.0)
        edges = fleet.edge[due]
        lat, lon, head = self.network.positions(edges, fleet.s[due])
        heading = np.round(head, 1)
        compass = ((head + 22.5) % 360.0 // 45.0).astype(np.int64).tolist()
        accuracy = np.round(3.0 + 2.0 * np.abs(self._aux_rng.standard_normal(len(due))), 1).tolist()
        ids = self._ids(2 * len(due))
        ts = self.now.isoformat()
        edge_ids, names = self._edge_ids, self._edge_names
        dev, static, status, incident, types = (
            fleet.device_id,
            fleet.static,
            fleet.status,
            fleet.incident,
            fleet.type,
        )
        held = (fleet.hold_until[due] > t).tolist()
        rows = zip(
            due.tolist(),
            edges.tolist(),
            held,
            np.round(lat, 7).tolist(),
            np.round(lon, 7).tolist(),
            np.round(fleet.speed[due] * 3.6, 1).tolist(),
            heading.tolist(),
            compass,
            accuracy,
            strict=True,
        )
        k = 0
        for i, e, stopped, la, lo, speed, hd, c, acc in rows:
            d = dev[i]
            direction = COMPASS[c]
            vehicle = {
                "id": ids[k],
                "device_id": d,
                "timestamp": ts,
                "location": [la, lo],
                "speed": speed,
                "direction": direction,
                "heading": hd,
                "road_segment": edge_ids[e],
                "road_name": names[e],
                **static[i],
            }
            duty = status[i]
            if duty is None:
                vehicle["status"] = ("at_stop" if types[i] == "bus" else "parked") if stopped else "driving"
            else:
                vehicle["status"] = duty
                if incident[i] is not None:
                    vehicle["incident_id"] = incident[i]
            events.append(("vehicle_data", d, vehicle))
            events.append(
                (
                    "gps_data",
                    d,
                    {
                        "id": ids[k + 1],
                        "device_id": d,
                        "timestamp": ts,
                        "location": [la, lo],
                        "speed": speed,
                        "direction": direction,
                        "heading": hd,
                        "vehicle_type": types[i],
                        "accuracy": acc,
                        "road_segment": edge_ids[e],
                    },
                )
            )
            k += 2

    def _report_sensors(self, moving: BoolArray, counts: IntArray, events: list[Event]) -> None:
        t, interval = self.elapsed, self.config.sensor_interval_s
        due = [s for s in self.sensors if s.next_report <= t + 1e-9]
        if not due:
            return
        fleet, net = self.vehicles, self.network
        n = len(net)
        edges = fleet.edge[moving]
        speed_sum = np.bincount(edges, weights=fleet.speed[moving], minlength=n)
        occupied = np.bincount(edges, weights=fleet.length[moving], minlength=n)
        free_flow = net.speed_limit * self._incident_factor * self.weather.speed_factor
        ids = self._ids(len(due))
        ts = self.now.isoformat()
        for event_id, sensor in zip(ids, due, strict=True):
            sensor.next_report += interval * (math.floor((t - sensor.next_report) / interval + 1e-9) + 1)
            e = sensor.edge
            count = int(counts[e])
            speed = float(speed_sum[e]) / count if count else float(free_flow[e])
            entries = int(self._entries[e])
            hist = sensor.history
            while len(hist) > 1 and t - hist[1][0] >= INTENSITY_WINDOW:
                hist.popleft()
            t0, n0 = hist[0]
            hist.append((t, entries))
            intensity = (entries - n0) * 3600.0 / (t - t0) if t > t0 else 0.0
            speed_kmh = round(speed * 3.6, 1)
            events.append(
                (
                    "traffic_data",
                    sensor.device_id,
                    {
                        "id": event_id,
                        "device_id": sensor.device_id,
                        "timestamp": ts,
                        "location": [sensor.lat, sensor.lon],
                        "camera_id": sensor.device_id,
                        "segment_id": sensor.segment_id,
                        "road_name": sensor.road_name,
                        "speed": speed_kmh,
                        "vehicle_count": count,
                        "intensity": round(intensity),
                        "occupancy": round(
                            min(1.0, float(occupied[e]) / (float(net.length[e]) * float(net.lanes[e]))), 3
                        ),
                        "congestion_level": congestion_level(speed_kmh, sensor.speed_limit_kmh),
                        "speed_limit": sensor.speed_limit_kmh,
                    },
                )
            )

    def _report_weather(self, counts: IntArray, events: list[Event]) -> None:
        t, interval = self.elapsed, self.config.weather_interval_s
        due = [s for s in self.stations if s.next_report <= t + 1e-9]
        if not due:
            return
        ids = self._ids(len(due))
        ts = self.now.isoformat()
        load = counts.astype(np.float64)
        for event_id, station in zip(ids, due, strict=True):
            station.next_report += interval * (math.floor((t - station.next_report) / interval + 1e-9) + 1)
            fields = station.reading(self.weather, load, t, self._aux_rng)
            events.append(
                (
                    "weather_data",
                    station.device_id,
                    {
                        "id": event_id,
                        "device_id": station.device_id,
                        "timestamp": ts,
                        "location": [station.lat, station.lon],
                        **fields,
                    },
                )
            )

    # -- introspection -----------------------------------------------------------------

    def mean_speed_kmh(self) -> float:
        """Mean speed of all vehicles right now."""
        return float(self.vehicles.speed.mean()) * 3.6 if len(self.vehicles) else 0.0

    @property
    def incident_slowdown(self) -> FloatArray:
        """Per-edge speed factor from active incidents (1 = unaffected)."""
        return self._incident_factor.copy()

    def edge_counts(self, moving: BoolArray | None = None) -> IntArray:
        """Vehicles in traffic per edge right now (parked ones excluded)."""
        moving = self.in_traffic() if moving is None else moving
        return np.bincount(self.vehicles.edge[moving], minlength=len(self.network))
