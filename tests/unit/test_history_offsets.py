"""History ranges in any UTC offset: the lake's partitions are UTC days and hours, whatever
offset an event was stamped in or a range is given in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import fakeredis
import pytest
from flask import Flask

from app import create_app
from app.store import Store
from pipeline.lake import LakeWriter, open_lake, partition_dates, read_table
from pipeline.rebuild import rebuild
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Validator
from pipeline.views import hourly, route
from tests.city import api_settings

AUTH = {"Authorization": "Bearer viewer-token"}
WEST, EAST = timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))
OFFSETS = {"-12:00": WEST, "Z": UTC, "+14:00": EAST}
FIRST = datetime(2026, 2, 27, 20, 0, tzinfo=UTC)
# every half hour from 2026-02-27T20:00Z to 2026-03-02T14:00Z, stamped in -12:00, Z and +14:00 in turn
INSTANTS = [FIRST + timedelta(minutes=30 * i) for i in range(133)]
# around 2026-03-01T00:00 in the range's own offset: [start, end) as offsets from that midnight
SPANS = {"before midnight": (-3, -0.5), "across midnight": (-1.5, 1.5), "the local day": (0, 24)}


def event(stream: str, i: int, t: datetime) -> dict[str, Any]:
    stamp = t.astimezone(list(OFFSETS.values())[i % 3]).isoformat()
    if stream == "gps_data":
        return {"device_id": "taxi-1", "timestamp": stamp, "location": [52.4, 13.5 + i / 1000], "speed": 30.0}
    return {"device_id": "cam-1", "camera_id": "cam-1", "timestamp": stamp, "location": [52.4, 13.5], "speed": 40.0}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A taxi's GPS and a camera's reports at every instant, written through the real writer."""
    path = tmp_path_factory.mktemp("offsets")
    writer, validator = LakeWriter(*open_lake(str(path / "lake"))), Validator()
    for stream in ("gps_data", "traffic_data"):
        records = [validator.validate(stream, event(stream, i, t)) for i, t in enumerate(INSTANTS)]
        writer.add(stream, [r for r in records if isinstance(r, dict)])
    writer.flush()
    return path


@pytest.fixture
def history_app(lake: Path) -> Flask:
    return create_app(api_settings(lake), store=Store(SpeedLayer(fakeredis.FakeRedis(), "o:")))


def cases() -> list[Any]:
    return [pytest.param(offset, span, id=f"{name} {span}") for name, offset in OFFSETS.items() for span in SPANS]


def bounds(offset: timezone, span: str) -> tuple[datetime, datetime]:
    midnight = datetime(2026, 3, 1, tzinfo=offset)
    return midnight + timedelta(hours=SPANS[span][0]), midnight + timedelta(hours=SPANS[span][1])


def inside(start: datetime, end: datetime) -> list[datetime]:
    expected = [t for t in INSTANTS if start <= t < end]
    assert 0 < len(expected) < len(INSTANTS)  # the case means something
    return expected


def test_the_writer_files_an_event_by_its_utc_date_and_hour(tmp_path: Path) -> None:
    fs, root = open_lake(str(tmp_path / "lake"))
    writer = LakeWriter(fs, root)
    record = Validator().validate("gps_data", {**event("gps_data", 0, FIRST), "timestamp": "2026-03-01T01:00+14:00"})
    assert isinstance(record, dict)
    writer.add("gps_data", [record])
    writer.flush()
    (row,) = read_table(fs, root, "gps_data").to_pylist()
    assert (row["date"], row["hour"]) == ("2026-02-28", 11)
    assert row["event_time"] == datetime(2026, 2, 28, 11, tzinfo=UTC)
    assert fs.get_file_info(f"{root}/gps_data/date=2026-02-28/hour=11").type.name == "Directory"


def test_partition_dates_are_the_utc_days_of_the_range() -> None:
    assert partition_dates(datetime(2026, 3, 1, tzinfo=EAST), datetime(2026, 3, 1, 2, tzinfo=EAST)) == (
        "2026-02-28",
        "2026-02-28",
    )
    assert partition_dates(datetime(2026, 2, 28, 20, tzinfo=WEST), datetime(2026, 2, 28, 23, tzinfo=WEST)) == (
        "2026-03-01",
        "2026-03-01",
    )
    # the end is exclusive: a range ending at UTC midnight reads nothing of the next day
    assert partition_dates(datetime(2026, 3, 1, 23), datetime(2026, 3, 2)) == ("2026-03-01", "2026-03-01")


@pytest.mark.parametrize(("offset", "span"), cases())
def test_views_return_every_event_in_a_range_given_in_any_offset(lake: Path, offset: timezone, span: str) -> None:
    fs, root = open_lake(str(lake / "lake"))
    start, end = bounds(offset, span)
    expected = inside(start, end)
    assert [p["event_time"] for p in route(fs, root, "taxi-1", start, end)] == expected
    assert sum(r["reports"] for r in hourly("traffic", fs, root, start, end)) == len(expected)


@pytest.mark.parametrize(("offset", "span"), cases())
def test_the_history_api_returns_every_event_in_a_range_given_in_any_offset(
    history_app: Flask, offset: timezone, span: str
) -> None:
    start, end = bounds(offset, span)
    expected = inside(start, end)
    client = history_app.test_client()
    q = urlencode({"start": start.isoformat(), "end": end.isoformat()})
    body = client.get(f"/api/history/vehicles/taxi-1/route?{q}", headers=AUTH).json
    assert [datetime.fromisoformat(r["event_time"]) for r in body["rows"]] == expected
    traffic = client.get(f"/api/history/traffic?{q}", headers=AUTH).json
    assert sum(r["reports"] for r in traffic["rows"]) == len(expected)
    assert datetime.fromisoformat(traffic["start"]) == start and traffic["start"].endswith("+00:00")


def test_a_naive_range_is_utc_and_an_unencoded_plus_is_the_offset(history_app: Flask) -> None:
    client = history_app.test_client()
    start, end = bounds(EAST, "across midnight")
    expected = len(inside(start, end))
    naive = urlencode({"start": start.astimezone(UTC).replace(tzinfo=None).isoformat(),
                       "end": end.astimezone(UTC).replace(tzinfo=None).isoformat()})  # fmt: skip
    assert client.get(f"/api/history/vehicles/taxi-1/route?{naive}", headers=AUTH).json["count"] == expected
    # a hand-typed URL: the query string reads `+14:00` as ` 14:00`
    raw = f"start={start.isoformat()}&end={end.isoformat()}"
    assert "+14:00" in raw
    assert client.get(f"/api/history/vehicles/taxi-1/route?{raw}", headers=AUTH).json["count"] == expected


def test_a_rebuild_since_a_time_in_any_offset_replays_every_event_from_it(lake: Path) -> None:
    fs, root = open_lake(str(lake / "lake"))
    since = datetime(2026, 3, 2, tzinfo=EAST)  # 2026-03-01T10:00Z: the day before its own date
    counts = rebuild(SpeedLayer(fakeredis.FakeRedis(), "r:"), fs, root, since)
    assert counts["gps_data"] == len([t for t in INSTANTS if t >= since]) > 0
