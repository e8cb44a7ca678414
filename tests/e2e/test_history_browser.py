"""History in headless Chromium, driven by the real mouse and keyboard: the route of a vehicle
that never moved is drawn as a point, without a NaN position in Leaflet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash
import fakeredis
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from app import create_app
from app.store import Store
from pipeline.lake import LakeWriter
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, rec, seed

STILL = [52.4401, 13.5202]
# Magenta pixels (the route colour, #ff00aa) the map's canvas shows around the map's centre:
# what the user sees where the map flew to.
MAGENTA_AT_CENTRE = """
const map = document.querySelector('.smartcity-history-map');
if (!map) return 0;  // not drawn yet: nothing shown
const r = map.getBoundingClientRect(), cx = r.left + r.width / 2, cy = r.top + r.height / 2;
let hits = 0;
for (const c of map.querySelectorAll('canvas')) {
  const b = c.getBoundingClientRect();
  if (!b.width || !b.height) continue;
  const x = Math.round((cx - b.left) * c.width / b.width), y = Math.round((cy - b.top) * c.height / b.height);
  let ctx = null;
  try { ctx = c.getContext('2d'); } catch (e) { continue; }  // a canvas a worker draws (OffscreenCanvas)
  if (!ctx) continue;  // a canvas another context (WebGL) owns
  const d = ctx.getImageData(x - 10, y - 10, 21, 21).data;
  for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] < 90 && d[i + 2] > 120) hits++;
}
return hits;
"""


@pytest.fixture
def history_console(tmp_path: Path) -> dash.Dash:
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e-h:")
    seed(speed)
    server = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed))  # tile_url "": no network
    writer = LakeWriter(*server.extensions["smartcity.lake"])
    # a vehicle parked all along: four reports, one position
    writer.add("gps_data", [rec("gps_data", 600 - 120 * i, device_id="car-still", location=STILL, speed=0.0)[1]
                            for i in range(4)])  # fmt: skip
    writer.flush()
    app: dash.Dash = server.extensions["smartcity.console"]
    return app


def severe(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry.get("level") == "SEVERE"]


def test_a_route_of_one_point_is_drawn_as_a_point(dash_duo: Any, history_console: dash.Dash) -> None:
    dash_duo.start_server(history_console, navigate=False)
    driver = dash_duo.driver
    driver.get(f"{dash_duo.server.url}/login?token=viewer-token")
    driver.get(f"{dash_duo.server.url}/?fresh=1#history")
    dash_duo.wait_for_element("#history-traffic", timeout=10)
    assert driver.execute_script(MAGENTA_AT_CENTRE) == 0
    field = dash_duo.find_element("#history-vehicle")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", field)  # into view, not input
    # the operator clicks into the field, types the id, and presses the button with the mouse
    ActionChains(driver).move_to_element(field).click().perform()
    ActionChains(driver).send_keys("car-still").perform()
    assert field.get_attribute("value") == "car-still"
    button = dash_duo.find_element("#history-route-load")
    ActionChains(driver).move_to_element(button).pause(0.2).click().perform()
    dash_duo.wait_for_contains_text("#history-route-info", "point 1 of 4", timeout=10)
    # the map flies to the point and draws it (the replay marker) in the middle
    dash_duo._wait_for(lambda d: d.execute_script(MAGENTA_AT_CENTRE) > 20, timeout=10, msg="the point on the map")
    ActionChains(driver).send_keys(Keys.ESCAPE).pause(1.0).perform()
    logs = dash_duo.get_logs()
    assert not any("NaN" in str(entry.get("message")) for entry in logs), logs
    assert severe(logs) == [], logs
    assert "point 1 of 4" in dash_duo.find_element("#history-route-info").text  # the console is not stuck
