"""Days of a city's history, simulated coarsely and fast, for the backfill (``producers.backfill``).

The live simulation steps every vehicle every quarter second through a traffic model; a week
of that would take hours. History needs less: where each vehicle was minute by minute, what
it was doing, and the day's rhythm. So this model samples coarser (documented in
``.env.example``, ``SMARTCITY_HISTORY_DAYS``):

- a GPS position per driving vehicle per minute, its telemetry (vehicle_data) every 5 minutes;
  a vehicle that parks reports both once, as it parks (the live city's trackers report for a
  few minutes more, then sleep);
- traffic cameras and weather stations every 5 minutes;
- incidents as they start, get units on scene and clear.

Vehicles follow the live city's day (``producers.daylife``: demand curve, shifts, sleeping
trackers, dead GPS units), drive along real roads (each on a long random walk of the road
network, so positions are on the carriageway and consecutive minutes connect), at speeds that
fall in the rush hours. The fleet is the live simulation's (same seed, same vehicle ids,
makes and models). Deterministic: the same config and range give the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import numpy as np

from producers.config import SimulationConfig
from producers.daylife import PEAK_DRIVING_SHARE, DayLife, awake_share, demand, incident_factor, speed_factor
from producers.fleet import EMERGENCY, new_fleet
from producers.incidents import Incident, IncidentGenerator
from producers.network import IntArray, RoadNetwork, load_network
from producers.reports import COMPASS, Event
from producers.sensors import congestion_level, place_sensors
from producers.weather import CityWeather, place_stations

GPS_EVERY_MIN = 1
TELEMETRY_EVERY_MIN = 5
SENSOR_EVERY_MIN = 5
WEATHER_EVERY_MIN = 5
TRIP_MEAN_MIN = 6.0  # a trip across this compact network
TOURS = 64  # distinct road tours the fleet shares (each vehicle starts at its own point)
TOUR_M = 120.0 * 1000  # length of each tour (120 km): days of driving before a vehicle goes round again
SHIFT_DRIVING = {"taxi": 0.6, "truck": 0.55}  # share of a shift spent driving (the rest: waiting, loading)


def _tours(network: RoadNetwork, rng: np.random.Generator) -> tuple[IntArray, np.ndarray, np.ndarray]:
    """Random walks along the roads (no U-turn where there is a choice), concatenated: each
    edge's index, its start on one global distance axis, and each tour's start on that axis."""
    edges: list[int] = []
    starts: list[float] = []
    bases: list[float] = []
    g = 0.0
    length = network.length.tolist()
    succ = [network.successors(e) for e in range(len(network))]
    for _ in range(TOURS):
        bases.append(g)
        e = int(rng.integers(len(network)))
        run = 0.0
        while run < TOUR_M:
            edges.append(e)
            starts.append(g + run)
            run += length[e]
            options = [x for x in succ[e] if x != network.reverse[e]] or succ[e]
            e = options[int(rng.integers(len(options)))]
        g += run + 1.0
    return np.array(edges, dtype=np.int64), np.array(starts), np.array(bases)


class WeekSimulation:
    """Yields a city's events hour by hour over ``[start, end)`` (UTC, whole minutes)."""

    def __init__(
        self, config: SimulationConfig, start: datetime, end: datetime, network: RoadNetwork | None = None
    ) -> None:
        self.config = config
        self.start = start.replace(second=0, microsecond=0)
        self.end = end
        self.network = net = network if network is not None else load_network(config.city)
        # the live simulation's fleet: same seed, same first generator, same draws
        seeds = np.random.SeedSequence(config.seed).spawn(6)
        fleet = new_fleet(config.vehicles, np.random.default_rng(seeds[0]), self.start.year)
        self.fleet = fleet
        rng = self.rng = np.random.default_rng(np.random.SeedSequence([config.seed, 7]))
        self.life = DayLife(config.life, fleet.type, self.start, rng)
        n = len(fleet)
        kind = np.array(fleet.type)
        self.kind = kind
        self.parks = fleet.parks.copy()
        self.emergency = np.isin(kind, EMERGENCY)
        self.car = kind == "car"
        self.desired_kmh = fleet.desired * 3.6
        self.tour_edges, self.tour_start, tour_base = _tours(net, rng)
        tour = rng.integers(0, TOURS, n)
        self.base = tour_base[tour]
        self.odo = rng.uniform(0.0, TOUR_M * 0.9, n)
        self.driving = np.zeros(n, dtype=bool)
        self.trip_left = np.zeros(n)
        self.parked_at = np.full(n, -1e9)  # minute it parked (long ago: its tracker sleeps)
        self.drive_share = np.select(
            [kind == "taxi", kind == "truck"], [SHIFT_DRIVING["taxi"], SHIFT_DRIVING["truck"]], 1.0
        )
        self.sleep_after_min = config.life.parked_offline_after_s / 60.0
        self.sensors = place_sensors(net, config.traffic_sensors, 10.0)
        self.sensor_jam = rng.uniform(0.5, 1.15, len(self.sensors))  # how badly each road jams at the peak
        self.stations = place_stations(net, config.weather_stations, rng, 60.0)
        self.weather = CityWeather(rng, self.start, (net.bbox[1] + net.bbox[3]) / 2)
        self.incidents = IncidentGenerator(net, config.incidents_per_hour, np.random.default_rng([config.seed, 9]))
        self._pending: list[tuple[datetime, Event]] = []  # incident updates due later
        self._count = 0  # events given an id this minute
        self._id_head = ""
        self._dispatch = f"dispatch-{net.name}"
        self._edge_ids = [e.id for e in net.edges]
        self._edge_names = [e.name for e in net.edges]
        self._share = net.length / net.length.sum()

    @property
    def minutes(self) -> int:
        return max(0, int((self.end - self.start).total_seconds() // 60))

    def hours(self, keep: Callable[[int], bool] | None = None) -> Iterator[tuple[int, datetime, list[Event]]]:
        """``(hour number, hour start, the events of that hour)`` in time order until ``end``.

        ``keep(hour number)`` false: the hour is simulated (the city goes on) but its vehicles'
        reports are not built and it yields no events, so that workers can share the hours.
        """
        events: list[Event] = []
        hour, number = self.start, 0
        for m in range(self.minutes):
            now = self.start + timedelta(minutes=m)
            if now.minute == 0 and now != hour:
                yield number, hour, events if keep is None or keep(number) else []
                hour, events, number = now, [], number + 1
            self._minute(m, now, events, keep is None or keep(number))
        self._due(self.end, events)
        yield number, hour, events if keep is None or keep(number) else []

    def _ids(self, n: int) -> list[str]:
        """``n`` event ids shaped as version-4 UUIDs: random bits drawn once per minute from the
        seed and the minute (so workers sharing the hours give the same ids), then a counter."""
        first = self._count
        self._count += n
        return [f"{self._id_head}{k:06x}" for k in range(first, first + n)]

    def _new_minute_ids(self, m: int) -> None:
        a, b, c = (int(x) for x in np.random.default_rng([self.config.seed, 8, m]).integers(0, 2**32, 3))
        self._id_head = f"{a:08x}-{b & 0xFFFF:04x}-4{(b >> 16) & 0xFFF:03x}-{0x8000 | (c & 0x3FFF):04x}-{c >> 8:06x}"
        self._count = 0

    # -- one minute --------------------------------------------------------------------

    def _minute(self, m: int, now: datetime, events: list[Event], report: bool = True) -> None:
        self._new_minute_ids(m)
        elapsed = m * 60.0
        local = self.life.local(elapsed)
        if m % WEATHER_EVERY_MIN == 0:
            self.weather.advance(60.0 * WEATHER_EVERY_MIN, now)
        reporting, speed = self._fleet(m, elapsed, local)
        self._incidents(elapsed, now, local, events)
        self._due(now + timedelta(minutes=1), events)
        ts = now.isoformat()
        if m % GPS_EVERY_MIN == 0 and report:
            self._vehicles(m, ts, reporting, speed, events)
        if m % SENSOR_EVERY_MIN == 0:
            self._sensors(ts, local, events)
        if m % WEATHER_EVERY_MIN == 0:
            self._stations(elapsed, ts, events)

    def _fleet(self, m: int, elapsed: float, local: datetime) -> tuple[np.ndarray, np.ndarray]:
        """Advance everyone a minute; return who reports and their speeds (km/h)."""
        rng, n = self.rng, len(self.fleet)
        duty = self.life.on_duty(elapsed)
        # trips end; parked vehicles set off as demand (private) or the shift (taxi, truck) calls them
        self.trip_left -= 1.0
        ends = self.driving & self.parks & (self.trip_left <= 0)
        # cars: the day's demand, among those not parked for the night; taxis, trucks: their shift
        awake = awake_share(local)
        car_share = min(1.0, PEAK_DRIVING_SHARE * demand(local) / awake)
        share = np.where(self.car, car_share, self.drive_share)
        park_mean = TRIP_MEAN_MIN * (1.0 / np.maximum(share, 0.005) - 1.0)
        may = duty & (~self.car | (self.life.chronotype < awake))
        wake = ~self.driving & self.parks & may & (rng.random(n) < 1.0 - np.exp(-1.0 / np.maximum(park_mean, 0.01)))
        self.driving[ends] = False
        self.parked_at[ends] = m
        self.driving[wake] = True
        self.trip_left[wake] = 1.0 + rng.exponential(TRIP_MEAN_MIN - 1.0, int(wake.sum()))
        # shifts: off duty parks at once; buses and emergency units drive while on duty
        stopping = self.driving & ~duty
        self.driving[stopping] = False
        self.parked_at[stopping] = m
        always = ~self.parks
        self.driving[always & duty] = True
        factor = speed_factor(local) * self.weather.speed_factor
        pace = np.where(self.kind == "bus", 0.55, np.where(self.emergency, 0.7, 1.0))  # stops; patrols
        speed = self.desired_kmh * factor * pace * rng.uniform(0.8, 1.1, n)
        speed[~self.driving] = 0.0
        self.odo += speed / 3.6 * 60.0
        # sampled coarser than live: a parked vehicle reports once, as it parks, then its tracker sleeps
        parking = self.parked_at == m
        reporting = duty & (self.driving | parking) & ~self.life.gps_dead(elapsed)
        return reporting, speed

    def _vehicles(self, m: int, ts: str, reporting: np.ndarray, speed: np.ndarray, events: list[Event]) -> None:
        idx = np.flatnonzero(reporting)
        if len(idx) == 0:
            return
        g = self.base[idx] + self.odo[idx] % TOUR_M
        k = np.searchsorted(self.tour_start, g, side="right") - 1
        edges = self.tour_edges[k]
        lat, lon, head = self.network.positions(edges, g - self.tour_start[k])
        telemetry = m % TELEMETRY_EVERY_MIN == 0
        parking = (self.parked_at[idx] == m).tolist()  # its last report before it sleeps: telemetry too
        ids = self._ids(len(idx) * 2)
        compass = ((head + 22.5) % 360.0 // 45.0).astype(np.int64).tolist()
        fleet, kinds, moving = self.fleet, self.fleet.type, self.driving
        rows = zip(idx.tolist(), edges.tolist(), np.round(lat, 7).tolist(), np.round(lon, 7).tolist(),
                   np.round(speed[idx], 1).tolist(), np.round(head, 1).tolist(), compass, strict=True)  # fmt: skip
        j = 0
        for (i, e, la, lo, v, hd, c), parks_now in zip(rows, parking, strict=True):
            dev, direction = fleet.device_id[i], COMPASS[c]
            events.append(("gps_data", dev, {
                "id": ids[j], "device_id": dev, "timestamp": ts, "location": [la, lo], "speed": v,
                "direction": direction, "heading": hd, "vehicle_type": kinds[i], "road_segment": self._edge_ids[e],
            }))  # fmt: skip
            j += 1
            if telemetry or parks_now:
                if kinds[i] in EMERGENCY:
                    status = "patrolling"
                elif moving[i]:
                    status = "driving"
                else:
                    status = "at_stop" if kinds[i] == "bus" else "parked"
                events.append(("vehicle_data", dev, {
                    "id": ids[j], "device_id": dev, "timestamp": ts, "location": [la, lo], "speed": v,
                    "direction": direction, "heading": hd, "road_segment": self._edge_ids[e],
                    "road_name": self._edge_names[e], "status": status, **fleet.static[i],
                }))  # fmt: skip
                j += 1

    def _sensors(self, ts: str, local: datetime, events: list[Event]) -> None:
        d = demand(local)
        net, rng = self.network, self.rng
        ids = self._ids(len(self.sensors))
        weather = self.weather.speed_factor
        for event_id, sensor, jam in zip(ids, self.sensors, self.sensor_jam, strict=True):
            e = sensor.edge
            limit = sensor.speed_limit_kmh
            speed = round(max(2.0, limit * (1.0 - 0.75 * jam * d**2) * weather * float(rng.uniform(0.9, 1.05))), 1)
            per_km = 4.0 + 40.0 * jam * d**2  # vehicles per lane-km
            count = int(rng.poisson(per_km * float(net.length[e]) * float(net.lanes[e]) / 1000.0))
            events.append(("traffic_data", sensor.device_id, {
                "id": event_id, "device_id": sensor.device_id, "timestamp": ts,
                "location": [sensor.lat, sensor.lon], "camera_id": sensor.device_id, "segment_id": sensor.segment_id,
                "road_name": sensor.road_name, "speed": speed, "vehicle_count": count,
                "intensity": round(count * speed / max(float(net.length[e]) / 1000.0, 0.05)),
                "occupancy": round(min(1.0, count * 5.0 / (float(net.length[e]) * float(net.lanes[e]))), 3),
                "congestion_level": congestion_level(speed, limit), "speed_limit": limit,
            }))  # fmt: skip

    def _stations(self, elapsed: float, ts: str, events: list[Event]) -> None:
        load = self._share * float(self.driving.sum())  # vehicles per edge, spread by road length
        ids = self._ids(len(self.stations))
        for event_id, station in zip(ids, self.stations, strict=True):
            fields = station.reading(self.weather, load, elapsed, self.rng)
            events.append(("weather_data", station.device_id, {"id": event_id, "device_id": station.device_id,
                           "timestamp": ts, "location": [station.lat, station.lon], **fields}))  # fmt: skip

    # -- incidents ---------------------------------------------------------------------

    def _incidents(self, elapsed: float, now: datetime, local: datetime, events: list[Event]) -> None:
        gen = self.incidents
        gen.rate_factor = incident_factor(local)
        for _ in range(gen.onsets(60.0)):
            inc = gen.create(elapsed)
            inc.reporter = self._dispatch
            units = inc.units_needed()
            inc.responders = list(range(len(units)))  # how many were sent (who is not kept here)
            at = now + timedelta(seconds=float(gen.rng.uniform(0, 60)))
            self._pending.append((at, self._incident_event(inc, at)))
            on_scene = at + timedelta(seconds=float(gen.rng.uniform(150, 540)))
            inc.on_scene_at = elapsed
            self._pending.append((on_scene, self._incident_event(inc, on_scene)))
            cleared = on_scene + timedelta(seconds=inc.clearance_s)
            inc.status = "Resolved"
            self._pending.append((cleared, self._incident_event(inc, cleared)))

    def _incident_event(self, inc: Incident, at: datetime) -> Event:
        return ("emergency_data", inc.reporter, {
            "id": self._ids(1)[0], "device_id": inc.reporter, "timestamp": at.isoformat(),
            "location": [inc.lat, inc.lon], "incidentId": inc.id, "incident_type": inc.kind.name,
            "status": inc.status, "description": inc.description(), "severity": inc.severity,
            "road_segment": inc.road_segment, "road_name": inc.road_name, "responders": len(inc.responders),
        })  # fmt: skip

    def _due(self, until: datetime, events: list[Event]) -> None:
        """Move incident updates due before ``until`` (and before the range's end) into ``events``."""
        limit = min(until, self.end)
        due = [item for item in self._pending if item[0] < limit]
        if due:
            self._pending = [item for item in self._pending if item[0] >= limit]
            events.extend(event for _, event in sorted(due, key=lambda item: item[0]))
