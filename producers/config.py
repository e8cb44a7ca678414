"""What a city simulation simulates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
