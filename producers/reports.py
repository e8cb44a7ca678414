"""Reports: the events each device sends when it is due, built from the simulation's state."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from producers.clock import Clock
from producers.config import SimulationConfig
from producers.incidents import Incident
from producers.network import BoolArray, IntArray
from producers.sensors import TrafficSensor, congestion_level
from producers.traffic import Traffic
from producers.weather import CityWeather, WeatherStation

Event = tuple[str, str, dict[str, Any]]

INTENSITY_WINDOW = 300.0  # s of entries used to extrapolate vehicles/h
COMPASS = ("North", "North-East", "East", "South-East", "South", "South-West", "West", "North-West")


class Reporter:
    """Appends vehicle, GPS, camera, weather and emergency events to a step's event list."""

    def __init__(
        self,
        config: SimulationConfig,
        traffic: Traffic,
        sensors: list[TrafficSensor],
        stations: list[WeatherStation],
        weather: CityWeather,
        clock: Clock,
        id_rng: np.random.Generator,
        aux_rng: np.random.Generator,
    ) -> None:
        self.config = config
        self.traffic = traffic
        self.sensors = sensors
        self.stations = stations
        self.weather = weather
        self.clock = clock
        self._id_rng = id_rng  # event ids only, so ids never perturb the city
        self._aux_rng = aux_rng  # measurement noise
        self.silent: Callable[[], BoolArray] | None = None  # vehicles whose tracker is off now
        edges = traffic.network.edges
        self._edge_ids = [e.id for e in edges]
        self._edge_names = [e.name for e in edges]

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

    def report_incidents(self, updates: list[Incident], events: list[Event]) -> None:
        """One emergency event per incident in ``updates``, with its current state."""
        if not updates:
            return
        ids = self._ids(len(updates))
        ts = self.clock.now.isoformat()
        for event_id, inc in zip(ids, updates, strict=True):
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

    def report_vehicles(self, events: list[Event]) -> None:
        """A vehicle and a GPS event from every vehicle whose report is due."""
        fleet, t, interval = self.traffic.vehicles, self.clock.elapsed, self.config.report_interval_s
        due = np.flatnonzero(fleet.next_report <= t + 1e-9)
        if len(due) == 0:
            return
        late = t - fleet.next_report[due]
        fleet.next_report[due] += interval * (np.floor(late / interval + 1e-9) + 1.0)
        if self.silent is not None:
            due = due[~self.silent()[due]]
            if len(due) == 0:
                return
        edges = fleet.edge[due]
        lat, lon, head = self.traffic.network.positions(edges, fleet.s[due])
        heading = np.round(head, 1)
        compass = ((head + 22.5) % 360.0 // 45.0).astype(np.int64).tolist()
        accuracy = np.round(3.0 + 2.0 * np.abs(self._aux_rng.standard_normal(len(due))), 1).tolist()
        ids = self._ids(2 * len(due))
        ts = self.clock.now.isoformat()
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
                if stopped:
                    vehicle["status"] = "at_stop" if types[i] == "bus" else "parked"
                else:  # at a red light or in a queue: standing, not driving
                    vehicle["status"] = "driving" if speed >= 0.5 else "stopped"
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

    def report_sensors(self, moving: BoolArray, counts: IntArray, events: list[Event]) -> None:
        """A traffic event from every camera that is due; ``counts`` are the ``moving`` vehicles per edge."""
        t, interval = self.clock.elapsed, self.config.sensor_interval_s
        due = [s for s in self.sensors if s.next_report <= t + 1e-9]
        if not due:
            return
        fleet, net = self.traffic.vehicles, self.traffic.network
        n = len(net)
        edges = fleet.edge[moving]
        speed_sum = np.bincount(edges, weights=fleet.speed[moving], minlength=n)
        occupied = np.bincount(edges, weights=fleet.length[moving], minlength=n)
        free_flow = net.speed_limit * self.traffic.incident_factor * self.weather.speed_factor
        ids = self._ids(len(due))
        ts = self.clock.now.isoformat()
        for event_id, sensor in zip(ids, due, strict=True):
            sensor.next_report += interval * (math.floor((t - sensor.next_report) / interval + 1e-9) + 1)
            e = sensor.edge
            count = int(counts[e])
            speed = float(speed_sum[e]) / count if count else float(free_flow[e])
            entries = int(self.traffic.entries[e])
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

    def report_weather(self, counts: IntArray, events: list[Event]) -> None:
        """A weather event from every station that is due; traffic ``counts`` feed its air quality."""
        t, interval = self.clock.elapsed, self.config.weather_interval_s
        due = [s for s in self.stations if s.next_report <= t + 1e-9]
        if not due:
            return
        ids = self._ids(len(due))
        ts = self.clock.now.isoformat()
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
