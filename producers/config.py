"""What a city simulation simulates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from producers.daylife import LifeConfig


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; the same config (with a fixed ``start``) gives the same events."""

    city: str = "berlin"
    vehicles: int = 1000
    traffic_sensors: int = 40
    weather_stations: int = 4
    incidents_per_hour: float = 6.0  # a daily mean when ``life`` is on: more by day, fewer at night
    report_interval_s: float = 1.0
    sensor_interval_s: float = 10.0
    weather_interval_s: float = 60.0
    seed: int = 42
    start: datetime | None = None
    # Shifts, night parking, dead GPS units, the demand curve. Off here (a steady fleet where every
    # vehicle reports, as a test bench wants); the demo and the producer CLI turn it on (settings).
    life: LifeConfig = field(default_factory=lambda: LifeConfig(enabled=False))
