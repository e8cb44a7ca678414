"""An event delivered again (an HTTP retry, a Kafka redelivery) is another lake row with the
same ``event_id``; the batch views and routes count it once, on either engine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyarrow import fs as pafs

from pipeline import spark_views
from pipeline.lake import LakeWriter, open_lake, read_table
from pipeline.validation import Validator
from pipeline.views import SOURCE, VIEWS, hourly, route, write_views
from producers.simulation import CitySimulation, SimulationConfig

START = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # an hour across midnight: two days, three hours
END = START + timedelta(hours=1, minutes=1)


def city() -> list[tuple[str, dict[str, Any]]]:
    """One simulated hour (20-s steps) of a 40-vehicle city, as its producers send it."""
    sim = CitySimulation(SimulationConfig(vehicles=40, start=START, incidents_per_hour=20, seed=4))
    return [(stream, event) for _ in range(180) for stream, _, event in sim.step(20.0)]


def deliver(path: Path, events: list[tuple[str, dict[str, Any]]], times: int) -> tuple[pafs.FileSystem, str]:
    """A lake holding ``events`` delivered ``times`` times, each delivery ingested (and flushed) apart."""
    fs, root = open_lake(str(path / "lake"))
    writer, validator = LakeWriter(fs, root), Validator()
    for delivery in range(times):
        oks, errs = validator.validate_batch(events, now=END + timedelta(minutes=delivery))
        assert not errs
        for stream, record in oks:
            writer.add(stream, [record])
        writer.flush()
    return fs, root


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[pafs.FileSystem, str], tuple[pafs.FileSystem, str]]:
    events = city()
    return deliver(tmp_path_factory.mktemp("once"), events, 1), deliver(tmp_path_factory.mktemp("thrice"), events, 3)


def test_an_event_delivered_three_times_counts_once_in_every_view(lakes: Any) -> None:
    (once_fs, once_root), (fs, root) = lakes
    assert read_table(fs, root, "gps_data").num_rows == 3 * read_table(once_fs, once_root, "gps_data").num_rows
    for view in VIEWS:
        expected = hourly(view, once_fs, once_root, START, END)
        assert expected, view
        assert hourly(view, fs, root, START, END) == expected, view
    days = date(2026, 11, 26), date(2026, 11, 28)
    assert write_views(fs, root, *days) == write_views(once_fs, once_root, *days)


def test_a_route_shows_each_position_once(lakes: Any) -> None:
    (once_fs, once_root), (fs, root) = lakes
    points = route(fs, root, "car-0001", START, END)
    assert len(points) == len({p["event_time"] for p in points}) > 100
    assert points == route(once_fs, once_root, "car-0001", START, END)


def test_the_first_ingested_delivery_stands_for_the_event(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path / "lake"))
    writer, validator = LakeWriter(fs, root), Validator()
    event = {"id": "t-1", "device_id": "cam-1", "camera_id": "cam-1", "timestamp": START.isoformat(),
             "location": [52.4, 13.5]}  # fmt: skip
    # written first, ingested last: a copy from a producer that retried with a changed body
    for speed, ingested in ((10.0, END + timedelta(minutes=5)), (90.0, END)):
        record = validator.validate("traffic_data", {**event, "speed": speed}, now=ingested)
        assert isinstance(record, dict)
        writer.add("traffic_data", [record])
        writer.flush()
    (row,) = hourly("traffic", fs, root, START, END)
    assert (row["reports"], row["avg_speed_kmh"]) == (1, 90.0)


class _Frame:
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def createOrReplaceTempView(self, name: str) -> None:
        self.names.append(name)


class _Result:
    def toArrow(self) -> pa.Table:
        return pa.table({"reports": [1]})


class _Spark:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def sql(self, text: str) -> _Result:
        self.statements.append(text)
        return _Result()


def test_spark_runs_the_views_sql_over_the_same_source(lakes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dedupe lives in the views' SQL, so Spark has it if it runs that text over ``SOURCE``."""
    _, (fs, root) = lakes
    registered: list[str] = []
    monkeypatch.setattr(spark_views, "events", lambda *_: _Frame(registered))
    spark = _Spark()
    for view in VIEWS:
        assert spark_views.view_table(spark, fs, root, "lake", view, START, END) is not None  # type: ignore[arg-type]
    assert spark.statements == [sql for _, sql in VIEWS.values()]
    assert registered == [SOURCE] * len(VIEWS)
