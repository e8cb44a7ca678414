from __future__ import annotations

import re
from pathlib import Path

import fakeredis

from app.store import BBox, Store
from pipeline.speed_layer import SpeedLayer
from tests.city import rec, seed


def test_the_fleet_cache_filters_like_redis_and_refreshes_when_it_ages() -> None:
    speed = SpeedLayer(fakeredis.FakeRedis(), "s:")
    seed(speed)
    direct, cached = Store(speed), Store(speed, fleet_cache_s=3600)
    box = BBox.parse("52.43,13.51,52.45,13.54")
    for args in [(None, None, 1000), (box, None, 1000), (box, "car", 1000), (None, "bus", 1000), (None, None, 1)]:
        assert cached.vehicle_locations(*args) == direct.vehicle_locations(*args)
    speed.write([rec("vehicle_data", 0, device_id="new-car", location=[52.44, 13.52], speed=5.0)])
    assert "new-car" not in [v["id"] for v in cached.vehicle_locations()]  # served from the cached read
    cached.fleet_cache_s = 1e-9
    assert cached.vehicle_locations()[0]["id"] == "new-car"  # newest first once refreshed


def test_the_app_reads_the_speed_layer_only_through_the_store() -> None:
    """No module of the app reaches past ``Store`` to the speed layer, its client or its keys:
    what the app reads is what ``Store`` offers (and tests can fake it)."""
    root = Path(__file__).resolve().parents[2] / "app"
    reach = re.compile(r"(?<!self)(?<!http)(?<!position)\.(speed|client|keys)\b(?!\s*\()")
    found = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for path in root.rglob("*.py")
        if path.name != "store.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if reach.search(line.split("#")[0])
    ]
    assert found == []
