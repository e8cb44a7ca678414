"""The city simulation: vehicles, traffic sensors, weather stations and incidents.

``CitySimulation`` owns the parts and steps them in a fixed order: the weather, the
traffic on the roads (``traffic``), the incidents and their emergency units
(``dispatch``) and the events each device reports (``reports``).

Everything is driven by seeded generators and the simulated clock, so a config gives
the same event list every time. Vehicle state lives in numpy arrays because 2,000
vehicles at 1 Hz must cost far less than a second of CPU per simulated second.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from producers.clock import Clock
from producers.config import SimulationConfig
from producers.daylife import DayLife, LifeConfig, awake_share, wake_probability
from producers.dispatch import Dispatcher
from producers.fleet import Fleet, fleet_mix, new_fleet
from producers.incidents import Incident, IncidentGenerator
from producers.network import BoolArray, FloatArray, IntArray, RoadNetwork, load_network
from producers.reports import Event, Reporter
from producers.sensors import place_sensors
from producers.signals import TrafficLights
from producers.traffic import Traffic
from producers.weather import CityWeather, place_stations

__all__ = ["CitySimulation", "Event", "LifeConfig", "SimulationConfig", "fleet_mix"]


class CitySimulation:
    """Steps a city forward in simulated time and returns the events each step produces."""

    def __init__(self, config: SimulationConfig, network: RoadNetwork | None = None) -> None:
        if (
            config.vehicles < 0
            or min(config.report_interval_s, config.sensor_interval_s, config.weather_interval_s) <= 0
        ):
            raise ValueError("vehicles must be >= 0 and intervals > 0")
        self.config = config
        self.network = net = network if network is not None else load_network(config.city)
        start = config.start or datetime.now(UTC).replace(microsecond=0)
        self.clock = Clock(start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC))
        seeds = np.random.SeedSequence(config.seed).spawn(6)  # the first five as before: same city
        rng = np.random.default_rng(seeds[0])  # vehicles and routing
        id_rng = np.random.default_rng(seeds[1])  # event ids only, so ids never perturb the city
        aux_rng = np.random.default_rng(seeds[2])  # signals, stations, measurement noise
        # Parts share generators, so each generator's draws must stay in this order (the lights
        # before the stations on aux_rng, the fleet before its placement on rng) to keep the events.
        lights = TrafficLights(net, aux_rng)
        self.weather = CityWeather(np.random.default_rng(seeds[3]), self.now, (net.bbox[1] + net.bbox[3]) / 2)
        self.incident_generator = IncidentGenerator(net, config.incidents_per_hour, np.random.default_rng(seeds[4]))
        fleet = new_fleet(config.vehicles, rng, self.start.year)
        self._life_rng = np.random.default_rng(seeds[5])  # the day's rhythm, apart from the traffic's draws
        self.life = DayLife(config.life, fleet.type, self.start, self._life_rng) if config.life.enabled else None
        share = self.life.driving_share(0.0) if self.life is not None else None
        self.traffic = Traffic(net, fleet, lights, self.clock, rng, config.report_interval_s, share)
        self.dispatcher = Dispatcher(self.traffic, self.incident_generator, self.clock)
        self.sensors = place_sensors(net, config.traffic_sensors, config.sensor_interval_s)
        self.stations = place_stations(net, config.weather_stations, aux_rng, config.weather_interval_s)
        self.reporter = Reporter(
            config, self.traffic, self.sensors, self.stations, self.weather, self.clock, id_rng, aux_rng
        )
        if self.life is not None:
            self._start_life()

    @property
    def start(self) -> datetime:
        """The simulated instant at elapsed 0 (UTC)."""
        return self.clock.start

    @property
    def now(self) -> datetime:
        """The simulated instant now (UTC)."""
        return self.clock.now

    @property
    def elapsed(self) -> float:
        """Simulated seconds since ``start``."""
        return self.clock.elapsed

    @property
    def vehicles(self) -> Fleet:
        """The whole fleet, parked or driving."""
        return self.traffic.vehicles

    @property
    def incidents(self) -> list[Incident]:
        """Open incidents and those resolved within the last hour."""
        return self.dispatcher.incidents

    @property
    def active_incidents(self) -> list[Incident]:
        """Incidents not yet resolved."""
        return self.dispatcher.active

    def trigger_incident(
        self, kind: str | None = None, severity: str | None = None, edge: int | str | None = None
    ) -> Incident:
        """Start an incident now (demo button, tests); its Active event comes with the next step."""
        return self.dispatcher.trigger(kind, severity, edge)

    def step(self, dt: float = 1.0) -> list[Event]:
        """Advance simulated time by ``dt`` seconds; return the events due in that step."""
        if dt <= 0:
            raise ValueError("dt must be positive")
        self.clock.advance(dt)
        if self.life is not None:
            self._live(dt)
        events: list[Event] = []
        self.weather.advance(dt, self.now)
        self.traffic.update_edge_speeds(self.edge_counts())
        self.dispatcher.start_incidents(dt)
        for i in self.traffic.move(dt, self.weather.speed_factor):
            # Responding units go on scene; everyone else ends their trip.
            if self.vehicles.status[i] == "responding":
                self.dispatcher.on_scene(i)
            else:
                self.traffic.arrive(i)
        self.reporter.report_incidents(self.dispatcher.finish_incidents(), events)
        moving = self.in_traffic()
        counts = self.edge_counts(moving)
        self.reporter.report_vehicles(events)
        self.reporter.report_sensors(moving, counts, events)
        self.reporter.report_weather(counts, events)
        return events

    # -- a day in the city --------------------------------------------------------------

    def _start_life(self) -> None:
        """The fleet as the hour finds it: the parked parked for a while already, shifts as they are."""
        fleet, life = self.vehicles, self.life
        assert life is not None
        parked = fleet.parks & (fleet.hold_until > 0)
        fleet.hold_until[parked] = np.inf
        fleet.speed[parked] = 0.0
        # parking ages are as long-tailed as parking times (memoryless): most trackers already sleep
        ages = self._life_rng.exponential(max(self.traffic.parking_time(), 1.0), int(parked.sum()))
        fleet.parked_since[parked] = -ages
        self._shifts(0.0)
        self.reporter.silent = self.silent

    def _shifts(self, t: float) -> None:
        """Vehicles whose shift ended park where they are; those whose shift began set off."""
        fleet, life = self.vehicles, self.life
        assert life is not None
        duty = life.on_duty(t)
        ending = ~duty & ~fleet.off_duty & ~fleet.responding
        starting = duty & fleet.off_duty
        if ending.any():
            fleet.off_duty[ending] = True
            fleet.hold_until[ending] = np.inf
            fleet.speed[ending] = 0.0
            fleet.parked_since[ending] = t
        if starting.any():
            fleet.off_duty[starting] = False
            fleet.hold_until[starting] = t
            fleet.trip_start[starting] = t
            fleet.parked_since[starting] = np.nan

    def _live(self, dt: float) -> None:
        """The hour's demand, shifts and incident rate; parked cars set off as demand calls them."""
        life, fleet, t = self.life, self.vehicles, self.elapsed
        assert life is not None
        self.traffic.demand_share = life.driving_share(t)
        self.incident_generator.rate_factor = life.incident_factor(t)
        self._shifts(t)
        waiting = fleet.parks & ~fleet.off_duty & np.isinf(fleet.hold_until)
        if waiting.any():
            traffic = self.traffic
            parking = traffic.parking_time()  # what demand and the roads' capacity allow
            share = traffic.trip_time / (parking + traffic.trip_time)
            p = wake_probability(dt, share, awake_share(life.local(t)), traffic.trip_time)
            wake = waiting & life.awake(t) & (self._life_rng.random(len(fleet)) < p)
            fleet.hold_until[wake] = t
            fleet.trip_start[wake] = t
            fleet.parked_since[wake] = np.nan

    def silent(self) -> BoolArray:
        """Vehicles not reporting now: off shift, a dead GPS unit, or parked long enough for the tracker to sleep."""
        fleet, t = self.vehicles, self.elapsed
        if self.life is None:
            return np.zeros(len(fleet), dtype=bool)
        asleep = (t - fleet.parked_since) > self.config.life.parked_offline_after_s  # NaN (not parked): False
        out: BoolArray = fleet.off_duty | self.life.gps_dead(t) | asleep
        return out

    # -- introspection -----------------------------------------------------------------

    def parking_time(self) -> float:
        """Mean time a vehicle parks between trips (see ``Traffic.parking_time``)."""
        return self.traffic.parking_time()

    def in_traffic(self) -> BoolArray:
        """Vehicles on the carriageway now (everyone except those parked at the kerb)."""
        return self.traffic.in_traffic()

    def edge_counts(self, moving: BoolArray | None = None) -> IntArray:
        """Vehicles in traffic per edge right now (parked ones excluded)."""
        return self.traffic.edge_counts(moving)

    def mean_speed_kmh(self) -> float:
        """Mean speed of all vehicles right now."""
        return float(self.vehicles.speed.mean()) * 3.6 if len(self.vehicles) else 0.0

    @property
    def incident_slowdown(self) -> FloatArray:
        """Per-edge speed factor from active incidents (1 = unaffected)."""
        return self.traffic.incident_factor.copy()
