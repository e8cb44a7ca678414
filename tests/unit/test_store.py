from __future__ import annotations

import gc
import re
import threading
import time
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis

from app.store import BBox, Store
from pipeline.speed_layer import SpeedLayer
from tests.city import rec, seed


def test_the_fleet_cache_filters_like_redis_and_is_refreshed_in_the_background() -> None:
    speed = SpeedLayer(fakeredis.FakeRedis(), "s:")
    seed(speed)
    direct, cached = Store(speed), Store(speed, fleet_cache_s=3600)
    box = BBox.parse("52.43,13.51,52.45,13.54")
    for args in [(None, None, 1000), (box, None, 1000), (box, "car", 1000), (None, "bus", 1000), (None, None, 1)]:
        assert cached.vehicle_locations(*args) == direct.vehicle_locations(*args)
    speed.write([rec("vehicle_data", 0, device_id="new-car", location=[52.44, 13.52], speed=5.0)])
    assert "new-car" not in [v["id"] for v in cached.vehicle_locations()]  # served from the cached read


def test_no_request_waits_for_a_read_of_the_fleet() -> None:
    speed = SpeedLayer(fakeredis.FakeRedis(), "bg:")
    seed(speed)
    readers: list[str] = []
    read = speed.vehicle_rows

    def watched(*args: Any, **kwargs: Any) -> bytes:
        readers.append(threading.current_thread().name)
        return read(*args, **kwargs)

    speed.vehicle_rows = watched  # type: ignore[method-assign]
    store = Store(speed, fleet_cache_s=0.05)
    assert len(store.vehicle_locations()) == 3
    speed.write([rec("vehicle_data", 0, device_id="new-car", location=[52.44, 13.52], speed=5.0)])
    deadline = time.monotonic() + 10
    while store.vehicle_locations()[0]["id"] != "new-car" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.vehicle_locations()[0]["id"] == "new-car"  # newest first once read again
    assert len(readers) >= 2 and set(readers) == {"smartcity-fleet"}  # never the requests' thread


def test_a_failed_read_of_the_fleet_is_the_requests_error_until_a_read_succeeds() -> None:
    server = fakeredis.FakeServer()
    speed = SpeedLayer(fakeredis.FakeRedis(server=server), "down:")
    seed(speed)
    store = Store(speed, fleet_cache_s=3600)
    assert len(store.vehicle_locations()) == 3
    server.connected = False
    store._fleet.refresh()  # what the thread does each period
    with pytest.raises(redis.ConnectionError):
        store.vehicle_locations()  # a 503, not a fleet that silently stopped moving
    server.connected = True
    store._fleet.refresh()
    assert len(store.vehicle_locations()) == 3


def test_the_refresh_thread_ends_with_its_store() -> None:
    store = Store(SpeedLayer(fakeredis.FakeRedis(), "gone:"), fleet_cache_s=0.01)
    store.vehicle_locations()
    thread = store._fleet._thread
    assert thread is not None and thread.is_alive()
    del store
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


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
