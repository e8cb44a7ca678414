"""A city that lives: a simulated day has quiet nights, parked and offline vehicles, shifts,
dead GPS units, a status that says when a vehicle stands, and incidents enough to keep
Emergency busy."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from producers.daylife import DayLife, LifeConfig, demand
from producers.simulation import CitySimulation, SimulationConfig

BERLIN = ZoneInfo("Europe/Berlin")
MIDNIGHT = datetime(2026, 12, 8, 0, 0, tzinfo=BERLIN).astimezone(UTC)  # a Tuesday, local midnight
STEP_S = 20.0


@pytest.fixture(scope="module")
def day() -> dict[str, Any]:
    """80 vehicles over one local day, stepped every 20 s: who reported in each local hour,
    the statuses they sent, incidents started and active."""
    sim = CitySimulation(
        SimulationConfig(vehicles=80, incidents_per_hour=20, start=MIDNIGHT, life=LifeConfig(dead_gps_share=0.03))
    )
    reporting: dict[int, set[str]] = defaultdict(set)
    moment: dict[int, int] = {}  # vehicles reporting in one step, at each full hour
    statuses: Counter[tuple[str, str]] = Counter()
    speeds_at_rest: list[float] = []
    started: set[str] = set()
    active: list[int] = []
    for k in range(int(86400 / STEP_S)):
        events = sim.step(STEP_S)
        hour = int(k * STEP_S // 3600)
        seen = set()
        for stream, _, e in events:
            if stream == "vehicle_data":
                seen.add(e["device_id"])
                statuses[(e["vehicle_type"], e["status"])] += 1
                if e["status"] == "driving":
                    speeds_at_rest.append(e["speed"])
            elif stream == "emergency_data" and e["status"] == "Active":
                started.add(e["incidentId"])
        reporting[hour] |= seen
        if (k * STEP_S) % 3600 == 0:
            moment[hour] = len(seen)
        if k % 45 == 0:  # every 15 min
            active.append(len(sim.active_incidents))
    return {"sim": sim, "reporting": reporting, "moment": moment, "statuses": statuses,
            "driving_speeds": speeds_at_rest, "started": started, "active": active}  # fmt: skip


def test_the_demand_curve_has_rush_hours_and_quiet_nights() -> None:
    tuesday = datetime(2026, 12, 8, tzinfo=BERLIN)
    at = {h: demand(tuesday + timedelta(hours=h)) for h in range(24)}
    assert max(at, key=at.__getitem__) in (8, 17)
    assert at[3] < 0.1 * at[8]
    sunday = datetime(2026, 12, 13, 8, tzinfo=BERLIN)
    assert demand(sunday) < 0.5 * at[8]  # no Sunday rush hour


def test_nights_are_quiet_and_days_busy(day: dict[str, Any]) -> None:
    moment, reporting = day["moment"], day["reporting"]
    night = np.mean([moment[h] for h in (2, 3, 4)])
    daytime = np.mean([moment[h] for h in (10, 11, 12, 13, 14)])
    assert night < 0.4 * daytime, moment
    assert len(reporting[3]) < 0.5 * len(reporting[11]), {h: len(v) for h, v in reporting.items()}
    # and nobody is gone for good: by day nearly the whole fleet reports (dead GPS units aside)
    assert len(reporting[11]) >= 0.85 * 80


def test_parked_and_off_shift_vehicles_stop_reporting(day: dict[str, Any]) -> None:
    sim: CitySimulation = day["sim"]
    reporting = day["reporting"]
    assert sim.life is not None
    buses = {d for d, t in zip(sim.vehicles.device_id, sim.vehicles.type, strict=True) if t == "bus"}
    assert buses and not (buses & reporting[3])  # no bus service at 03:00
    assert buses <= reporting[12] | set(np.array(sim.vehicles.device_id)[sim.life.gps_dead(12 * 3600.0)])
    statuses = day["statuses"]
    assert statuses[("car", "parked")] > 0 and statuses[("car", "driving")] > 0


def test_a_standing_vehicle_is_not_driving(day: dict[str, Any]) -> None:
    statuses = day["statuses"]
    assert statuses[("car", "stopped")] + statuses[("taxi", "stopped")] > 0  # red lights, queues
    assert min(day["driving_speeds"]) >= 0.5


def test_a_few_gps_units_fail_for_hours() -> None:
    life = DayLife(LifeConfig(dead_gps_share=0.01), ["car"] * 990 + ["police"] * 10, MIDNIGHT, np.random.default_rng(1))
    dead_some_time = np.zeros(1000, dtype=bool)
    for hour in range(0, 72):
        dead_some_time |= life.gps_dead(hour * 3600.0)
    assert 5 <= dead_some_time.sum() <= 10
    assert not dead_some_time[990:].any()  # emergency units' trackers are looked after
    assert not life.gps_dead(5 * 86400.0).any()  # and they are repaired within days


def test_incidents_keep_emergency_busy(day: dict[str, Any]) -> None:
    assert 350 <= len(day["started"]) <= 600  # 20 an hour as a daily mean
    active = day["active"]
    by_day = active[8 * 4 : 20 * 4]  # 08:00-20:00
    assert np.mean(by_day) >= 3  # a handful at any time by day
    assert min(by_day) >= 1


def test_the_living_city_is_deterministic() -> None:
    def run() -> list[Any]:
        sim = CitySimulation(SimulationConfig(vehicles=60, start=MIDNIGHT + timedelta(hours=7), life=LifeConfig()))
        return [e for _ in range(120) for e in sim.step(1.0)]

    assert run() == run()


def test_life_is_off_by_default_in_the_library() -> None:
    sim = CitySimulation(SimulationConfig(vehicles=50, start=MIDNIGHT + timedelta(hours=3)))
    events = [e for _ in range(3) for e in sim.step(1.0)]
    assert len({k for s, k, _ in events if s == "vehicle_data"}) == 50  # a test bench: everyone reports
