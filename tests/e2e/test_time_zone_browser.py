"""The console's times in headless Chromium: the city's zone by default, UTC when the operator
flips the navbar's switch with the mouse, remembered by the browser; the charts' axes and the
times the browser prints itself (the Emergency grid's) alike."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dash
import fakeredis
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app import create_app
from app.console import chart, ids
from app.store import Store
from pipeline.lake import LakeWriter
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, rec, seed, simulated_lake

TREND = f"#{ids.OVERVIEW_TREND_VEHICLES}"
# what the operator reads under the trend: the axis title, and the time labels of its ticks with
# where they stand (the middle of each label, in screen pixels, left to right); a label plotly keeps
# but does not draw (it would stand outside the plot or over its neighbour) has no box, and is not
# something the operator reads
AXIS = f"""
const g = document.querySelector('{TREND}');
if (!g) return null;
const title = g.querySelector('.xtitle');
return {{title: title ? title.textContent : null,
         ticks: [...g.querySelectorAll('.xaxislayer-above .xtick text')]
             .map(t => {{ const r = t.getBoundingClientRect();
                          return r.width > 0 ? [t.textContent, r.left + r.width / 2] : null; }})
             .filter(t => t !== null).sort((a, b) => a[1] - b[1])}};
"""


@pytest.fixture
def zone_console(tmp_path: Path) -> dash.Dash:
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e-tz:")
    seed(speed)
    server = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed))  # Europe/Berlin, the default
    # the lake holds the city's afternoon before: the Overview's day comes from there
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    simulated_lake(LakeWriter(*server.extensions["smartcity.lake"]), start, steps=60, step_s=60.0, seed=5)
    writer = LakeWriter(*server.extensions["smartcity.lake"])
    writer.add("gps_data", [rec("gps_data", 60 * i, device_id="car-1", location=[52.44, 13.52], speed=20.0)[1]
                            for i in range(5)])  # fmt: skip
    writer.flush()
    app: dash.Dash = server.extensions["smartcity.console"]
    return app


def axis(driver: Any) -> dict[str, Any] | None:
    found: dict[str, Any] | None = driver.execute_script(AXIS)
    return found


def test_the_utc_switch_turns_every_axis_to_utc_and_is_remembered(dash_duo: Any, zone_console: dash.Dash) -> None:
    dash_duo.start_server(zone_console, navigate=False)
    driver = dash_duo.driver
    driver.set_window_size(1440, 900)
    driver.get(f"{dash_duo.server.url}/login?token=viewer-token")
    driver.get(f"{dash_duo.server.url}/")
    dash_duo._wait_for(lambda d: (axis(d) or {}).get("title") == "time (Europe/Berlin)", timeout=15, msg="city zone")
    dash_duo._wait_for(lambda d: len(axis(d)["ticks"]) >= 2, timeout=10, msg="time ticks")
    berlin = axis(driver)["ticks"]
    # the operator moves the mouse to the navbar's UTC switch and clicks it
    switch = dash_duo.find_element(f"#{chart.UTC_SWITCH}")
    ActionChains(driver).move_to_element(switch).pause(0.2).click().perform()
    dash_duo._wait_for(lambda d: axis(d)["title"] == "time (UTC)", timeout=15, msg="the axis says UTC")
    dash_duo._wait_for(lambda d: axis(d)["ticks"] and axis(d)["ticks"] != berlin, timeout=10, msg="times moved")
    utc = axis(driver)["ticks"]
    # Berlin is one or two hours ahead of UTC: the same moment reads earlier in UTC, so a label
    # such as "06:00" now stands to the right of where it stood (06:00 UTC is 07:00 or 08:00 in
    # Berlin); a label can show twice in a day and more: each is matched with the same label less
    # than half a tick's spacing away
    spacing = min(b[1] - a[1] for a, b in itertools.pairwise(berlin))
    moved = [ux - x for label, x in berlin for ul, ux in utc if ul == label and abs(ux - x) < spacing / 2]
    # (right by an hour or two of the axis, less where the plot's margins grew to fit new labels)
    assert len(moved) >= 2 and all(dx > 1 for dx in moved), (berlin, utc)
    # a new page load in this browser keeps UTC
    driver.get(f"{dash_duo.server.url}/")
    dash_duo._wait_for(lambda d: (axis(d) or {}).get("title") == "time (UTC)", timeout=15, msg="remembered")
    assert [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"] == []


REPORTED = """
const grid = document.getElementById('emergency-table');
if (!grid) return null;
const cell = grid.querySelector('.ag-row[row-id="i-1"] .ag-cell[col-id="reported"]');
const head = grid.querySelector('.ag-header-cell[col-id="reported"] .ag-header-cell-text');
return {cell: cell ? cell.textContent : null, header: head ? head.textContent : null};
"""


def reported(driver: Any) -> dict[str, Any]:
    found: dict[str, Any] | None = driver.execute_script(REPORTED)
    return found or {}


def open_console(dash_duo: Any, app: dash.Dash, path: str) -> Any:
    """The console at ``path``, signed in as a viewer, in a 1440×900 window; its driver."""
    dash_duo.start_server(app, navigate=False)
    driver = dash_duo.driver
    driver.set_window_size(1440, 900)
    driver.get(f"{dash_duo.server.url}/login?token=viewer-token")
    driver.get(f"{dash_duo.server.url}{path}")
    return driver


def test_the_utc_switch_turns_the_emergency_grids_times_to_utc(dash_duo: Any, zone_console: dash.Dash) -> None:
    first_seen = zone_console.server.extensions["smartcity.store"].incident("i-1")["first_seen"]
    berlin, utc = chart.clock(first_seen, ZoneInfo("Europe/Berlin")), chart.clock(first_seen, ZoneInfo("UTC"))
    driver = open_console(dash_duo, zone_console, "/")
    tab = dash_duo._wait_for(lambda d: d.find_element(By.LINK_TEXT, "Emergency"), timeout=15, msg="the tab")
    ActionChains(driver).move_to_element(tab).pause(0.2).click().perform()  # the real mouse
    dash_duo._wait_for(lambda d: reported(d).get("cell") == berlin, timeout=15, msg=f"i-1 reported at {berlin}")
    assert reported(driver)["header"] == "Reported (Europe/Berlin)"
    switch = dash_duo.find_element(f"#{chart.UTC_SWITCH}")
    ActionChains(driver).move_to_element(switch).pause(0.2).click().perform()
    dash_duo._wait_for(lambda d: reported(d) == {"cell": utc, "header": "Reported (UTC)"}, timeout=15,
                       msg=f"i-1 reported at {utc}, under a header naming UTC")  # fmt: skip
    ActionChains(driver).move_to_element(switch).pause(0.2).click().perform()  # and back to the city's zone
    dash_duo._wait_for(lambda d: reported(d) == {"cell": berlin, "header": "Reported (Europe/Berlin)"}, timeout=15,
                       msg="the city's zone again")  # fmt: skip
    assert [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"] == []


def test_the_utc_switch_turns_the_map_panels_last_seen_to_utc(dash_duo: Any, zone_console: dash.Dash) -> None:
    """The selection's details are drawn in the browser (assets/smartcity_details.js) with the one
    formatter, in the zone shown: found with the keyboard, switched with the mouse."""
    ts = zone_console.server.extensions["smartcity.store"].vehicle("car-1")["ts"]
    berlin, utc = (chart.clock(ts, ZoneInfo(z), "%H:%M:%S") for z in ("Europe/Berlin", "UTC"))
    driver = open_console(dash_duo, zone_console, "/#map")
    box = dash_duo._wait_for(lambda d: d.find_element(By.ID, "map-find"), timeout=15, msg="the search box")
    dash_duo.wait_for_contains_text("#shell-badge", "live", timeout=15)
    ActionChains(driver).move_to_element(box).click().send_keys("car-1").send_keys(Keys.ENTER).perform()
    dash_duo.wait_for_contains_text("#map-details", f"Last seen {berlin}", timeout=15)
    switch = dash_duo.find_element(f"#{chart.UTC_SWITCH}")
    ActionChains(driver).move_to_element(switch).pause(0.2).click().perform()
    dash_duo.wait_for_contains_text("#map-details", f"Last seen {utc}", timeout=15)
    assert [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"] == []
