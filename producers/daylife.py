"""A city's day: when people drive, who is on shift, which trackers are off the air.

Everything here is in the city's local time (``zone``): private cars follow an hourly demand
curve (weekday rush hours, quiet nights, later and flatter weekends), buses run their service
hours, taxis and trucks work shifts, emergency units are always on duty, and a few vehicles
carry a dead GPS unit that stops reporting for hours or days. A parked car's tracker goes to
sleep a few minutes after the ignition is off, so a parked city is a quiet one.

The live simulation (``producers.simulation``) and the week backfill (``producers.backfill``)
read the same curves, so History and the live map tell the same story.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from producers.fleet import EMERGENCY
from producers.network import BoolArray, FloatArray

# Share of the peak of private trips under way, per local hour (start of the hour), typical of
# a European city's loop counts: two weekday rush hours, a late, flat weekend.
WEEKDAY = (0.12, 0.07, 0.05, 0.05, 0.08, 0.2, 0.5, 0.9, 1.0, 0.8, 0.65, 0.65,
           0.7, 0.7, 0.72, 0.82, 0.95, 1.0, 0.85, 0.62, 0.45, 0.35, 0.27, 0.18)  # fmt: skip
WEEKEND = (0.2, 0.14, 0.1, 0.07, 0.06, 0.08, 0.14, 0.22, 0.35, 0.5, 0.62, 0.7,
           0.72, 0.7, 0.68, 0.66, 0.64, 0.6, 0.55, 0.46, 0.38, 0.32, 0.28, 0.24)  # fmt: skip
PEAK_DRIVING_SHARE = 0.45  # private vehicles on the road at the busiest hour
# Who may set off at all: at the peak everyone, at night only the night owls (the rest are parked
# for the night). A car's chronotype in [0, 1) is compared with min(1, AWAKE_PER_DEMAND x demand).
AWAKE_PER_DEMAND = 2.2
BUS_SERVICE = {"weekday": (5.0, 24.0), "weekend": (6.5, 24.0)}  # local hours
TAXI_SHIFT_STARTS = (5.0, 7.0, 11.0, 15.0, 18.0, 21.0)
TAXI_SHIFT_HOURS = 10.0
TRUCK_SHIFT_HOURS = 9.0
CITY_ZONES = {"berlin": "Europe/Berlin", "braunschweig": "Europe/Berlin"}
MEAN_DEMAND = (5 * sum(WEEKDAY) + 2 * sum(WEEKEND)) / (7 * 24)


@dataclass(frozen=True)
class LifeConfig:
    """How alive the city is; ``enabled=False`` gives the always-on fleet of a test bench."""

    enabled: bool = True
    zone: str = "Europe/Berlin"
    parked_offline_after_s: float = 300.0  # a parked car's tracker sleeps this long after the engine stops
    dead_gps_share: float = 0.005  # vehicles whose GPS unit fails for a while (hours to days)


def demand(local: datetime) -> float:
    """Private trips under way at local time ``local`` as a share of the weekly peak (0..1)."""
    curve = WEEKEND if local.weekday() >= 5 else WEEKDAY
    h = local.hour + local.minute / 60.0
    i = int(h)
    nxt = WEEKEND if (local + timedelta(hours=1)).weekday() >= 5 else WEEKDAY
    f = h - i
    return curve[i] * (1.0 - f) + nxt[(i + 1) % 24] * f


def incident_factor(local: datetime) -> float:
    """Incident rate at ``local`` relative to the daily mean: more traffic, more incidents (never none)."""
    return (0.35 + demand(local)) / (0.35 + MEAN_DEMAND)


def speed_factor(local: datetime) -> float:
    """Free-flow share of the speed limit drivers get at ``local``: rush hours are slower."""
    return 1.0 - 0.4 * demand(local) ** 2


class DayLife:
    """Per-vehicle shifts and GPS outages for one fleet, and the city's clock in local time."""

    def __init__(self, config: LifeConfig, types: list[str], start: datetime, rng: np.random.Generator) -> None:
        self.config = config
        self.zone = ZoneInfo(config.zone)
        self.start = start
        n = len(types)
        kind = np.array(types)
        self.bus = kind == "bus"
        self.taxi = kind == "taxi"
        self.truck = kind == "truck"
        self.emergency = np.isin(kind, EMERGENCY)
        # Shifts in local hours: taxis from a few fixed starts, trucks in the morning on weekdays.
        self.chronotype: FloatArray = rng.random(n)  # low: out late and early; high: home by evening
        self.shift_start: FloatArray = np.zeros(n)
        self.shift_start[self.taxi] = rng.choice(TAXI_SHIFT_STARTS, int(self.taxi.sum()))
        self.shift_start[self.truck] = rng.uniform(5.0, 9.0, int(self.truck.sum()))
        # Dead GPS units: a few non-emergency vehicles, from some time around the start for hours to days.
        k = min(round(config.dead_gps_share * n), int((~self.emergency).sum()))
        self.dead_from: FloatArray = np.full(n, np.inf)
        self.dead_until: FloatArray = np.full(n, np.inf)
        if k:
            who = rng.choice(np.flatnonzero(~self.emergency), k, replace=False)
            self.dead_from[who] = rng.uniform(-12 * 3600.0, 24 * 3600.0, k)
            self.dead_until[who] = self.dead_from[who] + rng.uniform(6 * 3600.0, 3 * 86400.0, k)

    def local(self, elapsed: float) -> datetime:
        """The local time ``elapsed`` seconds after the start."""
        return (self.start + timedelta(seconds=elapsed)).astimezone(self.zone)

    def driving_share(self, elapsed: float) -> float:
        """Share of private vehicles that should be on the road now."""
        return PEAK_DRIVING_SHARE * demand(self.local(elapsed))

    def awake(self, elapsed: float) -> BoolArray:
        """Private vehicles that may set off now (the others are parked for the night)."""
        out: BoolArray = self.chronotype < awake_share(self.local(elapsed))
        return out

    def on_duty(self, elapsed: float) -> BoolArray:
        """Vehicles at work now (private cars are always 'on duty': they park by demand instead)."""
        local = self.local(elapsed)
        hour = local.hour + local.minute / 60.0
        weekend = local.weekday() >= 5
        duty = np.ones(len(self.bus), dtype=bool)
        lo, hi = BUS_SERVICE["weekend" if weekend else "weekday"]
        duty[self.bus] = lo <= hour < hi
        since = (hour - self.shift_start) % 24.0  # hours since the shift began (yesterday's if negative)
        duty[self.taxi] = since[self.taxi] < TAXI_SHIFT_HOURS
        truck = since < TRUCK_SHIFT_HOURS
        if weekend:  # trucks rest at the weekend, bar a few early Saturday runs
            truck &= (local.weekday() == 5) & (self.shift_start < 6.0)
        duty[self.truck] = truck[self.truck]
        return duty

    def gps_dead(self, elapsed: float) -> BoolArray:
        """Vehicles whose GPS unit is off the air now."""
        dead: BoolArray = (self.dead_from <= elapsed) & (elapsed < self.dead_until)
        return dead

    def incident_factor(self, elapsed: float) -> float:
        return incident_factor(self.local(elapsed))


def awake_share(local: datetime) -> float:
    """Share of private vehicles that may set off at ``local`` (see ``AWAKE_PER_DEMAND``)."""
    return min(1.0, AWAKE_PER_DEMAND * demand(local))


def wake_probability(dt: float, driving_share: float, awake: float, trip_time: float) -> float:
    """Chance that a parked, awake car sets off within ``dt`` seconds, so that ``driving_share``
    of all private cars drive when only ``awake`` of them may and a trip takes ``trip_time``."""
    share = min(1.0, driving_share / max(awake, 1e-9))
    if share >= 1.0:
        return 1.0
    parking_time = trip_time * (1.0 / max(share, 1e-3) - 1.0)
    return 1.0 - math.exp(-dt / parking_time)
