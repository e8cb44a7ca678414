"""City weather and the stations that measure it.

One city-wide state evolves smoothly: a regime (Clear/Cloudy/Rain/Fog) switches as a
Markov chain, and each quantity relaxes towards its regime's target plus an
Ornstein-Uhlenbeck wander, so readings never jump. Stations see the city weather plus
small fixed local offsets, and measure air quality from the traffic around them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from producers.network import FloatArray, RoadNetwork

REGIMES = ("Clear", "Cloudy", "Rain", "Fog")
# Regime switch rates per hour; fog forms mostly at night (see _rates).
_RATES: dict[str, dict[str, float]] = {
    "Clear": {"Cloudy": 0.4, "Fog": 0.02},
    "Cloudy": {"Clear": 0.35, "Rain": 0.3, "Fog": 0.02},
    "Rain": {"Cloudy": 0.6},
    "Fog": {"Clear": 0.3, "Cloudy": 0.3},
}
# regime -> (temperature offset Cel, humidity %, wind km/h, rain mm/h, visibility m)
_TARGETS: dict[str, tuple[float, float, float, float, float]] = {
    "Clear": (0.5, 62.0, 12.0, 0.0, 25_000.0),
    "Cloudy": (-0.5, 75.0, 16.0, 0.0, 15_000.0),
    "Rain": (-2.0, 92.0, 20.0, 2.5, 6_000.0),
    "Fog": (-1.0, 97.0, 4.0, 0.0, 250.0),
}
# Monthly mean temperature of a central European city (Berlin normals), Cel.
_MONTHLY_MEAN = (0.6, 1.4, 4.8, 9.7, 14.7, 17.7, 19.9, 19.5, 15.2, 10.2, 5.2, 1.9)
_AQI_PM25 = (
    (0.0, 9.0, 0, 50),
    (9.0, 35.4, 50, 100),
    (35.4, 55.4, 100, 150),
    (55.4, 125.4, 150, 200),
    (125.4, 225.4, 200, 300),
    (225.4, 325.4, 300, 500),
)
_AQI_NO2_PPB = (
    (0.0, 53.0, 0, 50),
    (53.0, 100.0, 50, 100),
    (100.0, 360.0, 100, 150),
    (360.0, 649.0, 150, 200),
    (649.0, 1249.0, 200, 300),
    (1249.0, 2049.0, 300, 500),
)


def _relax(value: float, target: float, dt: float, tau: float) -> float:
    return value + (target - value) * (1.0 - math.exp(-dt / tau))


def _sub_index(c: float, table: tuple[tuple[float, float, int, int], ...]) -> float:
    for lo, hi, i_lo, i_hi in table:
        if c <= hi:
            return i_lo + (i_hi - i_lo) * (c - lo) / (hi - lo)
    return 500.0


def aqi(pm25: float, no2: float) -> float:
    """US EPA AQI: the worse of the PM2.5 and NO2 sub-indices (NO2 in ug/m3)."""
    return min(500.0, max(_sub_index(pm25, _AQI_PM25), _sub_index(no2 / 1.88, _AQI_NO2_PPB)))


class CityWeather:
    """The weather over the whole city; ``advance`` it every simulation step."""

    def __init__(self, rng: np.random.Generator, now: datetime, lon: float) -> None:
        self.rng = rng
        self.lon = lon
        self.held = False
        self.regime = REGIMES[int(rng.choice(4, p=[0.45, 0.35, 0.12, 0.08]))]
        self._temp_dev = float(rng.normal(0, 1.5))
        self._hum_dev = float(rng.normal(0, 3))
        self._wind_dev = float(rng.normal(0, 0.2))
        self._rain_level = float(rng.uniform(1.0, 4.0))
        self._snap(now)

    def _local_hour(self, now: datetime) -> float:
        return (now.hour + now.minute / 60 + self.lon / 15.0) % 24

    def _targets(self, now: datetime) -> tuple[float, float, float, float, float]:
        t_off, hum, wind, rain, vis = _TARGETS[self.regime]
        hour = self._local_hour(now)
        diurnal = math.cos((hour - 15.0) / 24.0 * 2 * math.pi)  # +1 mid-afternoon, -1 before dawn
        amplitude = 1.5 if self.regime in ("Rain", "Fog") else 4.0
        temp = _MONTHLY_MEAN[now.month - 1] + t_off + amplitude * diurnal + self._temp_dev
        hum = min(100.0, max(20.0, hum - 8.0 * diurnal + self._hum_dev))
        wind = max(0.0, wind * (1.0 + self._wind_dev))
        rain = self._rain_level if self.regime == "Rain" else 0.0
        if self.regime == "Rain":
            vis = vis / (1.0 + rain / 3.0)
        return temp, hum, wind, rain, vis

    def _snap(self, now: datetime) -> None:
        self.temperature, self.humidity, self.wind_speed, self.precipitation, self.visibility = self._targets(now)

    def force(self, regime: str, now: datetime, hold: bool = True) -> None:
        """Set the regime at once (values jump to it); ``hold`` stops further switches."""
        if regime not in REGIMES:
            raise ValueError(f"unknown weather regime {regime!r}; choose one of {REGIMES}")
        self.regime = regime
        self.held = hold
        self._snap(now)

    def _rates(self, now: datetime) -> dict[str, float]:
        rates = _RATES[self.regime]
        hour = self._local_hour(now)
        if "Fog" in rates and (hour < 8 or hour > 22):
            rates = {**rates, "Fog": rates["Fog"] * 5}
        return rates

    def advance(self, dt: float, now: datetime) -> None:
        """Evolve the weather by ``dt`` seconds, ending at ``now``."""
        z = self.rng.standard_normal(4)
        u = float(self.rng.random())
        if not self.held:
            rates = self._rates(now)
            total = sum(rates.values())
            if u < 1.0 - math.exp(-total * dt / 3600.0):
                names = list(rates)
                pick = u / (1.0 - math.exp(-total * dt / 3600.0)) * total
                acc = 0.0
                for name in names:
                    acc += rates[name]
                    if pick <= acc:
                        self.regime = name
                        break
        # Ornstein-Uhlenbeck wanders: x += -x dt/tau + sd sqrt(2 dt/tau) z
        for attr, tau, sd, k in (
            ("_temp_dev", 3600.0, 1.5, 0),
            ("_hum_dev", 1800.0, 3.0, 1),
            ("_wind_dev", 1200.0, 0.2, 2),
        ):
            x = getattr(self, attr)
            setattr(self, attr, x - x * dt / tau + sd * math.sqrt(2 * dt / tau) * float(z[k]))
        self._rain_level += (2.5 - self._rain_level) * dt / 900.0 + 1.2 * math.sqrt(2 * dt / 900.0) * float(z[3])
        self._rain_level = min(20.0, max(0.3, self._rain_level))
        temp, hum, wind, rain, vis = self._targets(now)
        self.temperature = _relax(self.temperature, temp, dt, 900.0)
        self.humidity = _relax(self.humidity, hum, dt, 600.0)
        self.wind_speed = _relax(self.wind_speed, wind, dt, 300.0)
        self.precipitation = _relax(self.precipitation, rain, dt, 300.0)
        if rain == 0.0 and self.precipitation < 0.02:
            self.precipitation = 0.0
        self.visibility = math.exp(_relax(math.log(self.visibility), math.log(vis), dt, 600.0))

    @property
    def condition(self) -> str:
        """What an observer would call it, derived from the measured values."""
        if self.precipitation >= 0.1:
            return "Snow" if self.temperature < 0.5 else "Rain"
        if self.visibility < 1000.0:
            return "Fog"
        return "Cloudy" if self.regime in ("Cloudy", "Rain") else "Clear"

    @property
    def speed_factor(self) -> float:
        """How much drivers slow down: wet or snowy roads, and poor visibility."""
        f = 1.0
        if self.precipitation >= 0.1:
            snow = self.temperature < 0.5
            f = 1.0 - min(0.45 if snow else 0.25, (0.15 if snow else 0.05) + 0.03 * self.precipitation)
        if self.visibility < 1000.0:
            f = min(f, 0.6 + 0.4 * self.visibility / 1000.0)
        return f


@dataclass
class WeatherStation:
    """A fixed station: city weather plus local offsets, air quality from nearby traffic."""

    device_id: str
    lat: float
    lon: float
    temp_offset: float
    humidity_offset: float
    wind_factor: float
    traffic_weights: FloatArray  # per edge, decays with distance from the station
    next_report: float
    pm25: float = 8.0
    no2: float = 20.0
    last_reading: float = field(default=-1.0)

    def reading(
        self, city: CityWeather, edge_counts: FloatArray, now: float, rng: np.random.Generator
    ) -> dict[str, Any]:
        """The station's measured fields at simulated second ``now``."""
        load = float(self.traffic_weights @ edge_counts)  # vehicle-equivalents nearby
        wind = city.wind_speed * self.wind_factor
        dilution = 2.0 / (1.0 + wind / 10.0)
        washout = 1.0 / (1.0 + 0.3 * city.precipitation)
        fog = 1.3 if city.visibility < 1000.0 else 1.0
        no2 = 12.0 + 0.5 * load * dilution
        pm25 = (5.0 + 0.12 * load * dilution) * washout * fog
        dt = 600.0 if self.last_reading < 0 else now - self.last_reading
        self.no2 = _relax(self.no2, no2, dt, 600.0) if self.last_reading >= 0 else no2
        self.pm25 = _relax(self.pm25, pm25, dt, 600.0) if self.last_reading >= 0 else pm25
        self.last_reading = now
        z = rng.standard_normal(3)
        return {
            "temperature": round(city.temperature + self.temp_offset + 0.05 * float(z[0]), 2),
            "weather_condition": city.condition,
            "humidity": round(min(100.0, max(0.0, city.humidity + self.humidity_offset + 0.3 * float(z[1]))), 1),
            "wind_speed": round(max(0.0, wind + 0.3 * float(z[2])), 1),
            "precipitation": round(city.precipitation, 2),
            "visibility": round(city.visibility, 0),
            "pm25": round(self.pm25, 1),
            "no2": round(self.no2, 1),
            "airQualityIndex": round(aqi(self.pm25, self.no2), 0),
        }


def place_stations(
    network: RoadNetwork, count: int, rng: np.random.Generator, interval_s: float
) -> list[WeatherStation]:
    """``count`` stations on a grid over the network's bounding box, phases spread over the interval."""
    lat_min, lon_min, lat_max, lon_max = network.bbox
    cols = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / cols))
    mx, my = network.to_xy(network.mid_lat, network.mid_lon)
    stations = []
    for i in range(count):
        r, c = divmod(i, cols)
        lat = lat_min + (r + 0.5) / rows * (lat_max - lat_min)
        lon = lon_min + (c + 0.5) / cols * (lon_max - lon_min)
        sx, sy = network.to_xy(lat, lon)
        dist = np.hypot(mx - sx, my - sy)
        stations.append(
            WeatherStation(
                device_id=f"weather-{i + 1:02d}",
                lat=round(lat, 6),
                lon=round(lon, 6),
                temp_offset=float(rng.normal(0, 0.4)),
                humidity_offset=float(rng.normal(0, 2.0)),
                wind_factor=float(rng.uniform(0.8, 1.2)),
                traffic_weights=np.exp(-dist / 250.0),
                next_report=interval_s * (i + 1) / max(count, 1),
            )
        )
    return stations
