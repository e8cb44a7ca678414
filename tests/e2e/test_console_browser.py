"""The console in headless Chromium: it loads cleanly, shows the city, renders device text as text."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dash
import fakeredis
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app import create_app
from app.console import map as map_tab
from app.store import Store
from pipeline.lake import LakeWriter
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, rec, seed

XSS = "<img src=x onerror=alert(1)>"
LIVE_MARKERS = "return window.smartcityMap.count('vehicles')"  # vehicles on the map (assets/smartcity_map.js)


@pytest.fixture
def console(tmp_path: Path) -> tuple[dash.Dash, SpeedLayer]:
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e:")
    seed(speed)
    speed.write(
        [
            rec("emergency_data", 30, device_id="u9", incidentId="i-xss", incident_type="fire", status="Active",
                location=[52.441, 13.521], severity="critical", description=XSS),
        ]
    )  # fmt: skip
    server = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed))  # tile_url "": no network
    app: dash.Dash = server.extensions["smartcity.console"]
    return app, speed


def login(dash_duo: Any, token: str) -> None:
    dash_duo.driver.get(f"{dash_duo.server.url}/login?token={token}")
    dash_duo.wait_for_element(".leaflet-container", timeout=10)


def open_tab(dash_duo: Any, app: dash.Dash, tab: str) -> None:
    """Serve the console, log in as a viewer and load the page on ``tab`` (a link like /#map)."""
    dash_duo.start_server(app, navigate=False)
    dash_duo.driver.get(f"{dash_duo.server.url}/login?token=viewer-token")
    dash_duo.driver.get(f"{dash_duo.server.url}/?fresh=1#{tab}")


def test_the_page_loads_without_errors_and_the_map_shows_vehicles(dash_duo: Any, console: Any) -> None:
    app, _ = console
    dash_duo.start_server(app, navigate=False)
    login(dash_duo, "viewer-token")
    dash_duo.wait_for_contains_text("#shell-badge", "live", timeout=10)
    dash_duo.driver.find_element(By.LINK_TEXT, "Map").click()
    dash_duo._wait_for(lambda d: d.execute_script(LIVE_MARKERS) == 3, timeout=10, msg="3 vehicles on the map")
    # selecting a vehicle shows its details (tests/e2e/test_map_input.py clicks with the mouse)
    dash_duo.driver.execute_script("window.smartcityMap.select('bus-1')")
    dash_duo.wait_for_contains_text("#map-details", "bus-1", timeout=10)
    # filtering by type happens in the browser: cars leave the map, the bus stays
    car = dash_duo.driver.find_element(By.XPATH, "//*[@id='map-types']//label[normalize-space()='car']")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", car)  # below the panel's fold
    mouse_click(dash_duo.driver, car)
    dash_duo._wait_for(lambda d: d.execute_script(LIVE_MARKERS) == 1, timeout=10, msg="only the bus left")
    assert dash_duo.get_logs() == []


def test_a_moved_vehicle_is_pushed_and_its_marker_moves_in_place(dash_duo: Any, console: Any) -> None:
    app, speed = console
    dash_duo.start_server(app, navigate=False)
    login(dash_duo, "viewer-token")
    dash_duo.wait_for_contains_text("#shell-badge", "live via push", timeout=10)
    dash_duo.driver.find_element(By.LINK_TEXT, "Map").click()
    dash_duo._wait_for(lambda d: d.execute_script(LIVE_MARKERS) == 3, timeout=10, msg="3 vehicles on the map")
    updates = "return window.smartcityMap.stats().updates"
    before_move = dash_duo.driver.execute_script(updates)
    speed.write([rec("vehicle_data", 0, device_id="car-1", location=[52.452, 13.541], speed=40.0, vehicle_type="car")])
    where = "return window.smartcityMap.position('vehicles', 'car-1')"
    dash_duo._wait_for(
        lambda d: d.execute_script(where) == pytest.approx([52.452, 13.541]), timeout=5, msg="car-1 moved"
    )
    # moved by a delta (no new snapshot redrew the layer), and the others are still there
    assert dash_duo.driver.execute_script(updates) > before_move
    assert dash_duo.driver.execute_script(LIVE_MARKERS) == 3
    assert "live via push" in dash_duo.find_element("#shell-badge").text
    # while push is live the Map tab polls nothing: push brings all it shows
    polls = "return performance.getEntriesByType('resource').filter((e) => e.name.includes('_dash-update')).length"
    before = dash_duo.driver.execute_script(polls)
    time.sleep(3)
    assert dash_duo.driver.execute_script(polls) == before
    assert dash_duo.get_logs() == []


def test_an_incident_description_is_shown_as_text_and_runs_nothing(dash_duo: Any, console: Any) -> None:
    app, _ = console
    dash_duo.start_server(app, navigate=False)
    login(dash_duo, "viewer-token")
    dash_duo.driver.find_element(By.LINK_TEXT, "Emergency").click()
    dash_duo.wait_for_contains_text("#emergency-table", XSS, timeout=10)
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    # (the map's tooltips are text too: tests/e2e/test_map_input.py hovers an incident with markup)
    # a viewer gets no action buttons
    assert dash_duo.driver.find_elements(By.XPATH, "//button[text()='Resolve']") == []
    assert dash_duo.get_logs() == []


def grid_row(driver: Any, grid: str, text: str) -> Any:
    """The AG Grid row of ``grid`` showing a cell with exactly ``text``."""
    assert "'" not in text
    cell = driver.find_element(By.XPATH, f"//*[@id='{grid}']//div[@role='gridcell'][normalize-space()='{text}']")
    return cell.find_element(By.XPATH, "./ancestor::div[@role='row'][1]")


def mouse_click(driver: Any, element: Any) -> None:
    """A real click where ``element`` is on screen (the mouse moves there and presses)."""
    ActionChains(driver).move_to_element(element).click().perform()


def select_row(dash_duo: Any, grid: str, text: str) -> None:
    """Click the grid row showing ``text`` with the mouse until the grid says it is selected
    (rows update in place as data arrives, so a row found may be redrawn meanwhile)."""

    def selected(d: Any) -> bool:
        try:
            row = grid_row(d, grid, text)
            if "ag-row-selected" not in (row.get_attribute("class") or ""):
                mouse_click(d, row)
            return "ag-row-selected" in (grid_row(d, grid, text).get_attribute("class") or "")
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    dash_duo._wait_for(selected, timeout=10, msg=f"{text} selected in {grid}")


def test_an_operator_resolves_an_incident_and_it_leaves_the_list(dash_duo: Any, console: Any) -> None:
    app, _ = console
    dash_duo.start_server(app, navigate=False)
    login(dash_duo, "operator-token")
    mouse_click(dash_duo.driver, dash_duo.driver.find_element(By.LINK_TEXT, "Emergency"))
    dash_duo.wait_for_contains_text("#emergency-table", XSS, timeout=10)
    select_row(dash_duo, "emergency-table", XSS)
    mouse_click(dash_duo.driver, dash_duo.driver.find_element(By.XPATH, "//button[text()='Resolve']"))
    mouse_click(dash_duo.driver, dialog_button(dash_duo, "emergency-confirm-yes"))  # asked first
    dash_duo.wait_for_contains_text("#emergency-feedback", "resolved", timeout=10)
    dash_duo._wait_for(
        lambda d: XSS not in d.find_element(By.ID, "emergency-table").text, timeout=10, msg="incident left the list"
    )
    assert dash_duo.get_logs() == []


def dialog_button(dash_duo: Any, button_id: str) -> Any:
    """A button of the open dialog once it has slid into place (a click during its entrance
    would land where the button was a moment before)."""
    where = f"const r = document.getElementById('{button_id}').getBoundingClientRect(); return [r.x, r.y];"
    seen: list[Any] = []

    def steady(d: Any) -> bool:
        if not d.find_elements(By.CSS_SELECTOR, f".modal.show #{button_id}"):
            return False
        seen.append(d.execute_script(where))
        return len(seen) > 1 and seen[-1] == seen[-2]

    dash_duo._wait_for(steady, timeout=10, msg=f"{button_id} in place")
    return dash_duo.driver.find_element(By.ID, button_id)


def type_into(driver: Any, element: Any, text: str) -> None:
    """Click ``element`` with the mouse, then type ``text`` on the keyboard."""
    ActionChains(driver).move_to_element(element).click().send_keys(text).perform()


def button(driver: Any, label: str) -> Any:
    return driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']")


def test_an_operator_assigns_notes_cancels_then_confirms_a_resolution(dash_duo: Any, console: Any) -> None:
    app, speed = console
    driver = dash_duo.driver
    dash_duo.start_server(app, navigate=False)
    login(dash_duo, "operator-token")
    mouse_click(driver, driver.find_element(By.LINK_TEXT, "Emergency"))
    dash_duo.wait_for_contains_text("#emergency-table", XSS, timeout=10)
    select_row(dash_duo, "emergency-table", XSS)
    dash_duo.wait_for_contains_text("#emergency-details", "i-xss", timeout=10)  # its details and history
    dash_duo.wait_for_contains_text("#emergency-details", "Reported", timeout=5)

    type_into(driver, driver.find_element(By.ID, "emergency-assignee"), "ada")
    mouse_click(driver, button(driver, "Assign"))
    dash_duo.wait_for_contains_text("#emergency-feedback", "assigned to ada", timeout=10)
    dash_duo.wait_for_contains_text("#emergency-details", "Assigned to: ada", timeout=10)
    dash_duo._wait_for(  # the grid's "Assigned to" column, by push
        lambda d: "ada" in grid_row(d, "emergency-table", XSS).text, timeout=10, msg="assignee in the grid"
    )
    type_into(driver, driver.find_element(By.ID, "emergency-note-text"), "crew on site")
    mouse_click(driver, button(driver, "Add note"))
    dash_duo.wait_for_contains_text("#emergency-details", "crew on site", timeout=10)

    mouse_click(driver, button(driver, "Resolve"))
    dash_duo.wait_for_contains_text("#emergency-confirm-text", "i-xss", timeout=10)
    mouse_click(driver, dialog_button(dash_duo, "emergency-confirm-no"))  # Cancel
    dash_duo._wait_for(lambda d: not d.find_elements(By.CSS_SELECTOR, ".modal.show"), timeout=10, msg="closed")
    time.sleep(1)  # a resolution would reach the speed layer and the grid well within this
    assert XSS in driver.find_element(By.ID, "emergency-table").text
    assert speed.states("i", ["i-xss"])[0]["status"] == "Active"

    mouse_click(driver, button(driver, "Resolve"))
    mouse_click(driver, dialog_button(dash_duo, "emergency-confirm-yes"))  # Confirm
    dash_duo.wait_for_contains_text("#emergency-feedback", "resolved", timeout=10)
    dash_duo._wait_for(
        lambda d: XSS not in d.find_element(By.ID, "emergency-table").text, timeout=10, msg="incident left the list"
    )
    mouse_click(driver, driver.find_element(By.XPATH, "//*[@id='emergency-view']//label[normalize-space()='Resolved']"))
    dash_duo.wait_for_contains_text("#emergency-resolved", "i-xss", timeout=10)
    assert "ada" in grid_row(driver, "emergency-resolved", "i-xss").text
    assert driver.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    assert dash_duo.get_logs() == []


def test_a_new_critical_incident_is_listed_and_the_map_zooms_to_it(dash_duo: Any, console: Any) -> None:
    # its alert is the server's (the alert inbox: tests/e2e/test_inbox_browser.py)
    app, speed = console
    dash_duo.start_server(app, navigate=False)
    login(dash_duo, "viewer-token")
    dash_duo.driver.find_element(By.LINK_TEXT, "Emergency").click()
    dash_duo.wait_for_contains_text("#emergency-table", "fire", timeout=10)  # the incidents known at load
    speed.write(
        [
            rec("emergency_data", 0, device_id="u5", incidentId="i-new", incident_type="collapse", status="Active",
                location=[52.4335, 13.5301], severity="critical", description="bridge <b>down</b>"),
        ]
    )  # fmt: skip
    mouse_click(dash_duo.driver, dash_duo.driver.find_element(By.LINK_TEXT, "Emergency"))
    dash_duo.wait_for_contains_text("#emergency-table", "collapse", timeout=5)
    select_row(dash_duo, "emergency-table", "collapse")
    mouse_click(dash_duo.driver, dash_duo.driver.find_element(By.XPATH, "//button[text()='Show on map']"))
    dash_duo.wait_for_contains_text("#map-details", "i-new", timeout=10)
    assert dash_duo.driver.find_element(By.LINK_TEXT, "Map").get_attribute("class").count("active") == 1
    assert dash_duo.get_logs() == []


def test_the_history_tab_charts_the_lake_and_replays_a_route(dash_duo: Any, console: Any) -> None:
    app, _ = console
    writer = LakeWriter(*app.server.extensions["smartcity.lake"])
    for stream, records in [
        ("traffic_data", [rec("traffic_data", 600 - 60 * i, device_id="cam-1", camera_id="cam-1", road_name="Main St",
                              location=[52.44, 13.52], speed=30.0 + i)[1] for i in range(5)]),
        ("emergency_data", [rec("emergency_data", 300, device_id="u1", incidentId="i-h", incident_type="fire",
                                status="Active", location=[52.44, 13.52], severity="high")[1]]),
        ("weather_data", [rec("weather_data", 200, device_id="ws-1", location=[52.44, 13.52], temperature=4.0)[1]]),
        ("gps_data", [rec("gps_data", 100 - 10 * i, device_id="car-7", location=[52.43 + i / 1000, 13.52],
                          speed=20.0)[1] for i in range(6)]),
    ]:  # fmt: skip
        writer.add(stream, records)
    writer.flush()
    open_tab(dash_duo, app, "history")  # a link straight to the tab
    dash_duo.wait_for_element("#history-traffic .heatmaplayer", timeout=10)  # the last 24 h load with the tab
    dash_duo.wait_for_element("#history-incidents .barlayer .point", timeout=10)
    dash_duo.wait_for_element("#history-weather .scatterlayer .trace", timeout=10)
    dash_duo.wait_for_element("#history-traffic-links a", timeout=5)
    # a route: typed id -> drawn on the map, replayed by the slider
    vehicle = dash_duo.find_element("#history-vehicle")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", vehicle)
    vehicle.send_keys("car-7", Keys.ENTER)  # Enter (or leaving the field) shows the route
    dash_duo.wait_for_contains_text("#history-route-info", "point 1 of 6", timeout=10)
    dash_duo.driver.execute_script("arguments[0].click();", dash_duo.find_element("#history-play"))
    dash_duo._wait_for(
        lambda d: "point 1 of 6" not in d.find_element(By.ID, "history-route-info").text, timeout=10, msg="replaying"
    )
    assert dash_duo.get_logs() == []


def test_chart_tabs_are_built_when_first_shown_and_then_show_the_city(dash_duo: Any, console: Any) -> None:
    app, _ = console
    open_tab(dash_duo, app, "map")
    dash_duo.wait_for_contains_text("#shell-badge", "live via push", timeout=10)
    # opened on the Map, the page has built no chart tab, so it has not loaded Plotly
    assert dash_duo.driver.execute_script("return document.querySelectorAll('#tab-traffic-body *').length") == 0
    assert dash_duo.driver.execute_script("return typeof window.Plotly") == "undefined"
    dash_duo.driver.find_element(By.LINK_TEXT, "Traffic").click()
    dash_duo.wait_for_contains_text("#traffic-table", "cam-2", timeout=10)
    assert "Occupancy (%)" in dash_duo.find_element("#traffic-table").text  # a share, with its unit
    assert "Network segment" not in dash_duo.find_element("#traffic-table").text  # raw ids hidden
    dash_duo.wait_for_contains_text("#traffic-worst", "4 km/h", timeout=10)  # every bar says its speed
    dash_duo.driver.find_element(By.LINK_TEXT, "Weather").click()
    dash_duo.wait_for_contains_text("#weather-table", "ws-1", timeout=10)
    dash_duo.driver.find_element(By.LINK_TEXT, "Overview").click()
    dash_duo.wait_for_contains_text("#overview-cards", "3", timeout=10)  # active vehicles
    dash_duo._wait_for(lambda d: d.execute_script("return typeof window.Plotly") == "object", timeout=10,
                       msg="Plotly loaded once a chart tab was shown")  # fmt: skip
    assert dash_duo.get_logs() == []


def test_a_sensor_silent_for_15_minutes_leaves_the_pushed_traffic_list(dash_duo: Any, console: Any) -> None:
    app, speed = console
    open_tab(dash_duo, app, "traffic")
    dash_duo.wait_for_contains_text("#traffic-table", "cam-2", timeout=10)
    speed.write(
        [
            rec("traffic_data", 16 * 60, device_id="cam-old", camera_id="cam-old", location=[52.44, 13.52],
                speed=30.0, congestion_level="free"),
            rec("traffic_data", 0, device_id="cam-3", camera_id="cam-3", location=[52.44, 13.54], speed=30.0,
                congestion_level="free"),
        ]
    )  # fmt: skip
    dash_duo.wait_for_contains_text("#traffic-table", "cam-3", timeout=10)
    assert "cam-old" not in dash_duo.find_element("#traffic-table").text  # pushed, but older than the window
    assert dash_duo.get_logs() == []


def test_vehicles_coloured_by_speed_change_colour_in_place_with_a_legend(dash_duo: Any, console: Any) -> None:
    app, speed = console
    open_tab(dash_duo, app, "map")
    dash_duo.wait_for_contains_text("#shell-badge", "live via push", timeout=10)
    dash_duo._wait_for(lambda d: d.execute_script(LIVE_MARKERS) == 3, timeout=10, msg="3 vehicles on the map")
    fill = "return window.smartcityMap.colour('vehicles', arguments[0])"

    def rgb(hex_colour: str) -> list[int]:
        return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]

    colour = {band["name"]: rgb(band["colour"]) for band in map_tab.SPEED_BANDS}
    assert dash_duo.driver.execute_script(fill, "car-1") == rgb(map_tab.VEHICLE_COLOURS["car"])  # by type at first
    assert not dash_duo.find_element("#map-speed-legend").is_displayed()
    dash_duo.driver.find_element(By.XPATH, "//*[@id='map-colour-by']//label[normalize-space()='Speed']").click()
    # car-1 drives 31 km/h, bus-1 22 km/h
    dash_duo._wait_for(lambda d: d.execute_script(fill, "car-1") == colour["moving"], timeout=10, msg="car-1 moving")
    assert dash_duo.driver.execute_script(fill, "bus-1") == colour["slow"]
    legend = dash_duo.find_element("#map-speed-legend")
    assert legend.is_displayed() and "stopped (under 5 km/h)" in legend.text
    # a pushed stop recolours it in place
    speed.write([rec("vehicle_data", 0, device_id="car-1", location=[52.441, 13.521], speed=0.0, vehicle_type="car")])
    dash_duo._wait_for(lambda d: d.execute_script(fill, "car-1") == colour["stopped"], timeout=5, msg="car-1 stopped")
    assert dash_duo.driver.execute_script(LIVE_MARKERS) == 3
    dash_duo.driver.find_element(By.XPATH, "//*[@id='map-colour-by']//label[normalize-space()='Type']").click()
    dash_duo._wait_for(
        lambda d: d.execute_script(fill, "car-1") == rgb(map_tab.VEHICLE_COLOURS["car"]), timeout=10, msg="by type"
    )
    assert not dash_duo.find_element("#map-speed-legend").is_displayed()
    assert dash_duo.get_logs() == []


def test_a_link_to_a_tab_followed_on_the_page_opens_it(dash_duo: Any, console: Any) -> None:
    app, _ = console
    open_tab(dash_duo, app, "map")
    dash_duo.wait_for_contains_text("#shell-badge", "live via push", timeout=10)
    dash_duo.driver.execute_script("location.hash = '#weather'")  # as an <a href="#weather"> would
    dash_duo._wait_for(
        lambda d: "active" in d.find_element(By.LINK_TEXT, "Weather").get_attribute("class"),
        timeout=5,
        msg="the Weather tab opened",
    )
    dash_duo.wait_for_contains_text("#weather-table", "ws-1", timeout=10)
    assert dash_duo.get_logs() == []


def test_a_hidden_tabs_refresh_clock_is_stopped_and_runs_when_the_tab_is_shown(dash_duo: Any, console: Any) -> None:
    app, _ = console
    open_tab(dash_duo, app, "map")
    dash_duo.wait_for_contains_text("#shell-badge", "live via push", timeout=10)
    # count the tabs' refresh ticks (Dash looks the clientside function up at each call)
    dash_duo.driver.execute_script("""
        const ns = window.dash_clientside.smartcity, tick = ns.recentTick;
        window.__ticks = [];
        ns.recentTick = function (n, active, stamp, stopped) {
            window.__ticks.push([stamp && stamp.tab, n]);
            return tick.apply(this, arguments);
        };""")  # fmt: skip
    time.sleep(7)  # Overview's and System's clocks tick every 5 s when they run
    assert dash_duo.driver.execute_script("return window.__ticks") == []  # all four hidden: stopped
    system = dash_duo.driver.find_element(By.LINK_TEXT, "System")
    ActionChains(dash_duo.driver).move_to_element(system).click().perform()
    dash_duo._wait_for(
        lambda d: any(t == "tab-system" and n for t, n in d.execute_script("return window.__ticks")),
        timeout=12, msg="System's clock ticks once System is shown",
    )  # fmt: skip
    assert {t for t, n in dash_duo.driver.execute_script("return window.__ticks") if n} == {"tab-system"}
    assert dash_duo.get_logs() == []
