"""The push hub's view of the fleet's speeds (the summary's average speed)."""

from __future__ import annotations

from app.fleet import FleetRows
from pipeline.speed_layer import VEHICLE_ROW


def row(vid: str, ts: int, speed: float | None) -> list[object]:
    values = {"id": vid, "ts": ts, "speed": speed}
    return [values.get(k) for k in VEHICLE_ROW]


def test_the_average_is_of_each_vehicles_newest_speed_within_the_active_window() -> None:
    fleet = FleetRows(active_s=120)
    assert fleet.average() is None
    fleet.update([row("a", 1_000_000, 10.0), row("b", 1_000_000, 30.0)])
    assert fleet.average() == 20.0
    fleet.update([row("a", 1_001_000, 50.0), row("b", 999_000, 99.0)])  # b's row is older: ignored
    assert fleet.average() == 40.0
    fleet.update([row("c", 1_121_500, 0.0), row("d", 1_121_500, None)])  # a, b unseen for 120.5 s: gone
    assert fleet.average() == 0.0
