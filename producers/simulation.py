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
from producers.dispatch import Dispatcher
from producers.fleet import Fleet, fleet_mix, new_fleet
from producers.incidents import Incident, IncidentGenerator
from producers.network import BoolArray, FloatArray, IntArray, RoadNetwork, load_network
from producers.reports import Event, Reporter
from producers.sensors import place_sensors
from producers.signals import TrafficLights
from producers.traffic import Traffic
from producers.weather import CityWeather, place_stations

__all__ = ["CitySimulation", "Event", "SimulationConfig", "fleet_mix"]


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
        seeds = np.random.SeedSequence(config.seed).spawn(5)
        rng = np.random.default_rng(seeds[0])  # vehicles and routing
        id_rng = np.random.default_rng(seeds[1])  # event ids only, so ids never perturb the city
        aux_rng = np.random.default_rng(seeds[2])  # signals, stations, measurement noise
        # Parts share generators, so each generator's draws must stay in this order (the lights
        # before the stations on aux_rng, the fleet before its placement on rng) to keep the events.
        lights = TrafficLights(net, aux_rng)
        self.weather = CityWeather(np.random.default_rng(seeds[3]), self.now, (net.bbox[1] + net.bbox[3]) / 2)
        self.incident_generator = IncidentGenerator(net, config.incidents_per_hour, np.random.default_rng(seeds[4]))
        fleet = new_fleet(config.vehicles, rng, self.start.year)
        self.traffic = Traffic(net, fleet, lights, self.clock, rng, config.report_interval_s)
        self.dispatcher = Dispatcher(self.traffic, self.incident_generator, self.clock)
        self.sensors = place_sensors(net, config.traffic_sensors, config.sensor_interval_s)
        self.stations = place_stations(net, config.weather_stations, aux_rng, config.weather_interval_s)
        self.reporter = Reporter(
            config, self.traffic, self.sensors, self.stations, self.weather, self.clock, id_rng, aux_rng
        )

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
