"""Live updates in a real browser: an ingested incident reaches the open console without a
reload, and the console reconnects by itself after the server restarts."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dash
import fakeredis
import pytest
import redis
from selenium.webdriver.common.by import By

from app import create_app
from app.store import Store
from pipeline.speed_layer import SpeedLayer
from tests.city import TOKENS, api_settings, rec, seed
from tests.services import Gunicorn, RedisServer, free_port

# The live client's city (assets/smartcity_live.js), which every live figure and map layer draws
# from, and the points on the map by id (assets/smartcity_map.js draws them)
INCIDENT_IN_CITY = "return window.smartcityLive.city.incidents.has(arguments[0])"
INCIDENT_ON_MAP = "return window.smartcityMap.has('incidents', arguments[0])"
CAR_AT = "return window.smartcityMap.position('vehicles', 'car-1')"


def post_incident(base: str, incident_id: str, description: str) -> None:
    """POST one Active incident to the ingest API, as a device or a dispatcher's system would."""
    event = {"device_id": f"dispatch-{incident_id}", "timestamp": datetime.now(UTC).isoformat(),
             **_incident(incident_id), "description": description}  # fmt: skip
    req = urllib.request.Request(
        f"{base}/api/ingest/emergency_data", data=json.dumps(event).encode(), method="POST",
        headers={"Authorization": "Bearer ingest-token", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 202


def _incident(incident_id: str) -> dict[str, Any]:
    return {"incidentId": incident_id, "incident_type": "flood", "status": "Active", "severity": "medium",
            "location": [52.4372, 13.5268]}  # fmt: skip


@pytest.fixture
def console(tmp_path: Path) -> dash.Dash:
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e:")
    seed(speed)
    server = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed))  # tile_url "": no network
    app: dash.Dash = server.extensions["smartcity.console"]
    return app


def test_an_ingested_incident_appears_in_the_emergency_tab_and_the_live_city_within_2_s(
    dash_duo: Any, console: dash.Dash
) -> None:
    dash_duo.start_server(console, navigate=False)
    base = dash_duo.server.url
    dash_duo.driver.get(f"{base}/login?token=viewer-token")
    dash_duo.driver.get(f"{base}/?fresh=1#emergency")
    dash_duo.wait_for_contains_text("#shell-badge", "live via push", timeout=10)
    dash_duo.wait_for_contains_text("#emergency-table", "fire", timeout=10)  # the incidents known at load
    post_incident(base, "i-flood-1", "water in the underpass")
    dash_duo.wait_for_contains_text("#emergency-table", "water in the underpass", timeout=2)
    # in the city the map draws from too, and one posted while the map is shown
    assert dash_duo.driver.execute_script(INCIDENT_IN_CITY, "i-flood-1")
    dash_duo.driver.find_element(By.LINK_TEXT, "Map").click()
    post_incident(base, "i-flood-2", "second flood")
    dash_duo._wait_for(
        lambda d: d.execute_script(INCIDENT_IN_CITY, "i-flood-2"), timeout=2, msg="i-flood-2 in the city"
    )
    dash_duo._wait_for(lambda d: d.execute_script(INCIDENT_ON_MAP, "i-flood-2"), timeout=2, msg="i-flood-2 drawn")
    assert dash_duo.driver.execute_script("return location.search") == "?fresh=1"  # never reloaded
    assert dash_duo.get_logs() == []


def test_the_console_reconnects_by_itself_after_the_server_restarts(
    dash_duo: Any, tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = "restart:"
    speed = SpeedLayer(redis.Redis(port=redis_server.port), prefix)
    seed(speed)
    env = {"SMARTCITY_REDIS_URL": redis_server.url, "SMARTCITY_REDIS_PREFIX": prefix, "SMARTCITY_API_TOKENS": TOKENS,
           "SMARTCITY_SECRET_KEY": "restart-test-key", "SMARTCITY_LAKE_URI": str(tmp_path / "lake"),
           "SMARTCITY_TILE_URL": ""}  # fmt: skip
    for key, value in env.items():  # the server processes inherit them; the login survives a restart
        monkeypatch.setenv(key, value)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    driver = dash_duo.driver
    with Gunicorn(tmp_path / "first", port):
        driver.get(f"{base}/login?token=viewer-token")
        driver.get(f"{base}/?fresh=1#map")
        dash_duo.wait_for_contains_text("#shell-badge", "live via push", timeout=15)
        dash_duo._wait_for(lambda d: d.execute_script(CAR_AT) is not None, timeout=10, msg="car-1 in the city")
    # the server is gone: the page says so (red, "reconnecting") and keeps trying
    dash_duo._wait_for(lambda d: "reconnecting" in d.find_element(By.ID, "shell-badge").text, timeout=15,
                       msg="the badge shows the lost connection")  # fmt: skip
    assert "bg-danger" in dash_duo.find_element("#shell-badge").get_attribute("class")
    # and the map's points are greyed: what they show is no longer live
    assert driver.execute_script("return window.smartcityMap.stats().grey")
    assert driver.find_elements(By.CSS_SELECTOR, ".smartcity-map.smartcity-map-stale")
    with Gunicorn(tmp_path / "second", port):
        # connected again (the poll sees the server back first); the seeded city is old by now, so the
        # badge says how old until new data arrives
        dash_duo.wait_for_contains_text("#shell-badge", "via push", timeout=30)
        speed.write([rec("vehicle_data", 0, device_id="car-1", location=[52.452, 13.541], speed=40.0,
                         vehicle_type="car")])  # fmt: skip
        dash_duo.wait_for_contains_text("#shell-badge", "live via push", timeout=15)
        dash_duo._wait_for(lambda d: d.execute_script(CAR_AT) == pytest.approx([52.452, 13.541]), timeout=10,
                           msg="deltas move car-1 again after the reconnect")  # fmt: skip
        assert driver.execute_script("return location.search") == "?fresh=1"  # reconnected without a reload
        assert not driver.execute_script("return window.smartcityMap.stats().grey")
    # while the server was down the browser logged its refused requests (socket, the live poll) and
    # Dash said a callback got no answer; nothing else (the log's times are when Chrome flushed it)
    expected = ("net::ERR_CONNECTION_REFUSED", "net::ERR_SOCKET_NOT_CONNECTED", "/api/live",
                "Callback failed: the server did not respond")  # fmt: skip
    errors = [e["message"] for e in dash_duo.get_logs() or [] if not any(x in e["message"] for x in expected)]
    assert errors == []


# every vehicle of the live city, as rows in the model's columns, sorted by id
CITY_ROWS = "return Array.from(window.smartcityLive.city.vehicles.values()).sort((a, b) => a[0] < b[0] ? -1 : 1)"


def server_rows(base: str, cookies: list[dict[str, Any]]) -> list[list[Any]]:
    """The vehicles of the hub's snapshot (``GET /api/live``), in the model's columns."""
    from pipeline.live_model import VEHICLE_ROW

    cookie = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    req = urllib.request.Request(f"{base}/api/live", headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=10) as resp:
        msg = json.load(resp)
    at = [msg["vehicle_fields"].index(f) for f in VEHICLE_ROW]
    return sorted(([row[i] for i in at] for row in msg["vehicles"]), key=lambda r: r[0])


@pytest.mark.parametrize("worker", [True, False], ids=["frames-read-in-a-worker", "frames-read-on-the-page"])
def test_the_browsers_live_vehicles_are_the_speed_layers_in_every_column(
    dash_duo: Any, tmp_path: Path, worker: bool
) -> None:
    """The frames are read in a worker and packed into the page's vehicle table (numbers in
    typed arrays, text as codes); where no worker can be made, they are read on the page. Either
    way the page holds what the speed layer holds: every column of every vehicle, after new
    vehicles, moves, new text (a status, a road never seen before) and text gone."""
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e:")
    seed(speed)
    app = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed)).extensions["smartcity.console"]
    driver = dash_duo.driver
    if not worker:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.Worker;"})
    dash_duo.start_server(app, navigate=False)
    base = dash_duo.server.url
    driver.get(f"{base}/login?token=viewer-token")
    driver.get(f"{base}/?fresh=1#map")
    dash_duo.wait_for_contains_text("#shell-badge", "live via push", timeout=10)
    assert driver.execute_script("return window.smartcityLive.framesInWorker") is worker
    cookies = driver.get_cookies()

    def same() -> bool:
        return driver.execute_script(CITY_ROWS) == server_rows(base, cookies)

    dash_duo._wait_for(lambda d: same(), timeout=10, msg="the seeded city in the page")
    speed.write([
        rec("vehicle_data", 0, device_id="car-1", location=[52.4411, 13.5212], speed=0.0, vehicle_type="car",
            status="parked", road_name="Never-Seen-Before-Strasse"),
        rec("vehicle_data", 0, device_id="taxi-new", location=[52.447, 13.533], speed=12.5, vehicle_type="taxi"),
        rec("vehicle_data", 0, device_id="bus-1", location=[52.4461, 13.5311], speed=18.25, vehicle_type="bus"),
    ])  # fmt: skip
    dash_duo._wait_for(lambda d: same(), timeout=10, msg="the moves, the new vehicle and the new text in the page")
    rows = {r[0]: r for r in driver.execute_script(CITY_ROWS)}
    assert "taxi-new" in rows and "Never-Seen-Before-Strasse" in rows["car-1"]
    assert dash_duo.get_logs() == []
