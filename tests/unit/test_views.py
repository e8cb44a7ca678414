"""Batch views written to the lake, and the vehicle distance view, on the embedded engine."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyarrow import fs as pafs

from pipeline.lake import LakeWriter, open_lake
from pipeline.validation import Validator
from pipeline.views import VIEWS, hourly, read_view, route, write_views

Lake = tuple[pafs.FileSystem, str, list[tuple[float, float]]]
START = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # two hours that straddle midnight


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = map(lambda p: (math.radians(p[0]), math.radians(p[1])), (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def gps(device: str, t: datetime, lat: float, lon: float) -> dict[str, object]:
    return {"device_id": device, "timestamp": t.isoformat(), "location": [lat, lon], "speed": 30.0,
            "vehicle_type": "taxi"}  # fmt: skip


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """One taxi driving north-east, a report every 10 minutes for two hours, plus traffic."""
    validator = Validator()
    fs, root = open_lake(str(tmp_path / "lake"))
    writer = LakeWriter(fs, root)
    points = [(52.40 + 0.002 * i, 13.50 + 0.003 * i) for i in range(12)]
    later = START + timedelta(days=1)
    records = [validator.validate("gps_data", gps("taxi-1", START + timedelta(minutes=10 * i), *p), now=later)
               for i, p in enumerate(points)]  # fmt: skip
    writer.add("gps_data", records)
    traffic = []
    for i, count in enumerate((1, 2, 0, 1)):  # an average of 0.75 vehicles: a rounding tie at one decimal
        event = {"device_id": "cam-1", "camera_id": "cam-1", "timestamp": (START + timedelta(minutes=i)).isoformat(),
                 "location": [52.4, 13.5], "speed": 40.0 + i * 0.05, "vehicle_count": count}  # fmt: skip
        traffic.append(validator.validate("traffic_data", event, now=START + timedelta(days=1)))
    writer.add("traffic_data", traffic)
    writer.flush()
    return fs, root, points


def test_vehicle_distance_sums_the_steps_between_reports_per_hour(lake: Lake) -> None:
    fs, root, points = lake
    rows = hourly("distance", fs, root, START, START + timedelta(hours=2))
    assert [(r["hour"], r["vehicle"], r["vehicle_type"], r["reports"]) for r in rows] == [
        (START, "taxi-1", "taxi", 6),
        (START + timedelta(hours=1), "taxi-1", "taxi", 6),
    ]
    steps = [haversine_km(a, b) for a, b in itertools.pairwise(points)]
    assert rows[0]["distance_km"] == pytest.approx(sum(steps[:5]), abs=0.0005)  # the first report has no step
    assert rows[1]["distance_km"] == pytest.approx(sum(steps[5:]), abs=0.0005)  # 00:00 counts the 23:50 step


def test_rounding_ties_go_away_from_zero(lake: Lake) -> None:
    fs, root, _ = lake
    (row,) = hourly("traffic", fs, root, START, START + timedelta(hours=1))
    assert row["avg_speed_kmh"] == 40.08  # 40.075 (a binary double just below) rounds up
    assert row["reports"] == 4 and row["max_vehicle_count"] == 2


def test_written_views_partition_by_day_and_replace_on_rerun(lake: Lake) -> None:
    fs, root, _ = lake
    counts = write_views(fs, root, date(2026, 11, 26), date(2026, 11, 28))
    assert counts == {"traffic": 1, "incidents": 0, "weather": 0, "distance": 2}
    again = write_views(fs, root, date(2026, 11, 26), date(2026, 11, 28))
    assert again == counts
    for view in VIEWS:
        expected = hourly(view, fs, root, START - timedelta(hours=23), START + timedelta(hours=25))
        assert read_view(fs, root, view).to_pylist() == expected
    days = sorted(info.base_name for info in fs.get_file_info(pafs.FileSelector(root + "/views/distance")))
    assert days == ["date=2026-11-26", "date=2026-11-27"]


def test_gps_reports_without_a_position_are_no_step_and_no_route_point(lake: Lake, tmp_path: Path) -> None:
    fs, root, points = lake
    before = hourly("distance", fs, root, START, START + timedelta(hours=2))
    blind = [{"device_id": "taxi-1", "timestamp": (START + timedelta(minutes=10 * i + 5)).isoformat(), "speed": 9.0}
             for i in range(12)]  # fmt: skip
    records = [Validator().validate("gps_data", event, now=START + timedelta(days=1)) for event in blind]
    writer = LakeWriter(fs, root)
    writer.add("gps_data", records)  # type: ignore[arg-type]
    writer.flush()
    assert hourly("distance", fs, root, START, START + timedelta(hours=2)) == before
    track = route(fs, root, "taxi-1", START, START + timedelta(hours=2))
    assert [(p["latitude"], p["longitude"]) for p in track] == points
