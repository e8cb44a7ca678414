"""The live map under a real mouse: hover shows each layer's tooltip, a click selects a vehicle,
layer toggles are clean, Follow keeps the vehicle centred (headless Chromium, real input events)."""

from __future__ import annotations

import math
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import dash
import fakeredis
import pytest
import selenium
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app import create_app
from app.console import map as map_tab
from app.store import Store
from pipeline.lake import LakeWriter, open_lake
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, rec

# one of each kind, apart from each other (so the mouse can reach each), as offsets in px from the
# centre of the map as the page opens (the network's centre, at the zoom that fits it)
OFFSETS = {"car": (-150, 60), "bus": (100, -80), "sensor": (-50, 150), "station": (-250, -120),
           "incident": (250, 40), "under_incident": (255, 45)}  # fmt: skip


def where(server: Any) -> dict[str, tuple[float, float]]:
    """Latitude/longitude of each of OFFSETS on the map as the page opens."""
    with server.test_request_context("/"):
        lat, lon = map_tab.bbox_centre(map_tab.network())
        zoom = map_tab.fit_zoom(map_tab.network())
    per_degree = 256 * 2**zoom / 360
    return {
        name: (lat - dy / (per_degree / math.cos(math.radians(lat))), lon + dx / per_degree)
        for name, (dx, dy) in OFFSETS.items()
    }


SCREEN = "return window.smartcityMap.screenPoint(arguments[0], arguments[1])"
HIDDEN = "return !window.smartcityMap.visible(arguments[0])"
TIP = "const t = document.querySelector('.smartcity-tip'); return t && !t.hidden ? t.textContent : null"


@pytest.fixture
def city(tmp_path: Path) -> tuple[dash.Dash, SpeedLayer, dict[str, tuple[float, float]]]:
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e-map:")
    server = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed))  # tile_url "": no network
    at = where(server)
    speed.write(
        [
            rec("vehicle_data", 2, device_id="car-1", location=list(at["car"]), speed=31.0, vehicle_type="car",
                make="Volkswagen", model="Golf", plate="B-KX 4821"),
            rec("vehicle_data", 2, device_id="bus-1", location=list(at["bus"]), speed=22.0, vehicle_type="bus"),
            rec("vehicle_data", 2, device_id="taxi-under", location=list(at["under_incident"]), speed=10.0,
                vehicle_type="taxi"),
            rec("traffic_data", 2, device_id="cam-9", camera_id="cam-9", location=list(at["sensor"]), speed=12.0,
                congestion_level="heavy", road_name="Bahnhofstraße"),
            rec("weather_data", 2, device_id="ws-9", location=list(at["station"]), temperature=7.5,
                weather_condition="Rain"),
            rec("emergency_data", 30, device_id="u1", incidentId="i-9", incident_type="fire", status="Active",
                location=list(at["incident"]), severity="high", description="smoke <b>seen</b>"),
        ]
    )  # fmt: skip
    return server.extensions["smartcity.console"], speed, at


# what each asked renderer draws with here (headless Chromium has OffscreenCanvas)
DRAWN_WITH = {"webgl": "webgl", "canvas": "canvas-worker", "canvas-page": "canvas"}


def open_map(dash_duo: Any, app: dash.Dash, dark: bool = False, renderer: str = "") -> None:
    dash_duo.start_server(app, navigate=False)
    dash_duo.driver.set_window_size(1400, 1000)  # the whole map in view: the mouse can reach every point
    dash_duo.driver.get(f"{dash_duo.server.url}/login?token=viewer-token")
    dash_duo.driver.get(f"{dash_duo.server.url}/{'?renderer=' + renderer if renderer else ''}#map")
    dash_duo.wait_for_contains_text("#shell-badge", "live", timeout=10)
    drawn = "return window.smartcityMap.count('vehicles') === 3 && window.smartcityMap.count('incidents') === 1"
    dash_duo._wait_for(lambda d: d.execute_script(drawn), timeout=10, msg="the city on the map")
    drawn_with = dash_duo.driver.execute_script("return window.smartcityMap.stats().renderer")
    assert drawn_with == DRAWN_WITH.get(renderer, drawn_with) and drawn_with in DRAWN_WITH.values()
    if dark:
        dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='Dark']").click()
        dash_duo._wait_for(
            lambda d: d.execute_script("return document.documentElement.getAttribute('data-bs-theme')") == "dark",
            timeout=5, msg="dark theme",
        )  # fmt: skip


def mouse_at(dash_duo: Any, x: float, y: float) -> ActionChains:
    """Real mouse moves to the container point (x, y) of the map."""
    driver = dash_duo.driver
    container = driver.find_element(By.CSS_SELECTOR, ".smartcity-map")
    x, y = round(x), round(y)
    if tuple(int(p) for p in selenium.__version__.split(".")[:2]) >= (4, 3):  # offsets from the centre
        rect = container.rect
        x, y = x - round(rect["width"] / 2), y - round(rect["height"] / 2)
    chain = ActionChains(driver)
    with warnings.catch_warnings():  # selenium 4.2 warns that 4.3 measures from the centre
        warnings.simplefilter("ignore", DeprecationWarning)
        chain.move_to_element_with_offset(container, x, y)
    chain.perform()
    return chain


def pixels_at(dash_duo: Any, x: float, y: float, side: int = 3) -> str:
    """What the screen shows in the ``side`` x ``side`` px around the map's container point (x, y):
    a PNG (base64) captured by the browser, compared as is."""
    rect = dash_duo.driver.find_element(By.CSS_SELECTOR, ".smartcity-map").rect
    half = side // 2
    clip = {"x": rect["x"] + x - half, "y": rect["y"] + y - half, "width": side, "height": side, "scale": 1}
    return str(dash_duo.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": clip})["data"])


def mouse_to(dash_duo: Any, layer: str, entity_id: str) -> ActionChains:
    """Real mouse moves to where ``entity_id`` of ``layer`` is drawn on the map (its projected
    position is read from the page; the input itself is the browser's own)."""
    point = dash_duo.driver.execute_script(SCREEN, layer, entity_id)
    assert point is not None, f"{layer} {entity_id} is not on the map"
    return mouse_at(dash_duo, point["x"], point["y"])


def tooltip_of(dash_duo: Any, layer: str, entity_id: str) -> str:
    mouse_at(dash_duo, 8, 200)  # off every point first: the tooltip closes
    dash_duo._wait_for(lambda d: d.execute_script(TIP) is None, timeout=3, msg="no tooltip off the points")
    mouse_to(dash_duo, layer, entity_id)
    dash_duo._wait_for(lambda d: d.execute_script(TIP), timeout=3, msg=f"a tooltip for {layer} {entity_id}")
    return str(dash_duo.driver.execute_script(TIP))


def severe(dash_duo: Any) -> list[dict[str, Any]]:
    return [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_mouse_picks_every_layer_with_an_incident_on_the_map(dash_duo: Any, city: Any, dark: bool) -> None:
    app, _, at = city
    open_map(dash_duo, app, dark)
    assert "car-1 (car)" in tooltip_of(dash_duo, "vehicles", "car-1")
    assert "31 km/h" in tooltip_of(dash_duo, "vehicles", "car-1")
    incident = tooltip_of(dash_duo, "incidents", "i-9")
    assert "fire · high" in incident and "smoke <b>seen</b>" in incident  # text, never markup
    assert dash_duo.driver.execute_script("return document.querySelector('.smartcity-tip b')") is None
    sensor = tooltip_of(dash_duo, "sensors", "cam-9")
    assert "sensor cam-9" in sensor and "heavy · 12" in sensor
    station = tooltip_of(dash_duo, "stations", "ws-9")
    assert "weather ws-9" in station and "Rain" in station
    # incidents are picked first: the mouse on the taxi under the incident shows the incident
    assert "fire" in tooltip_of(dash_duo, "vehicles", "taxi-under")
    # a real click on a vehicle selects it: the details panel shows it
    mouse_to(dash_duo, "vehicles", "bus-1").click().perform()
    dash_duo.wait_for_contains_text("#map-details", "bus-1", timeout=10)
    assert dash_duo.driver.execute_script("return window.smartcityMap.selected()") == "bus-1"
    # its track (fetched, then live) ends at its marker
    dash_duo._wait_for(
        lambda d: d.execute_script("return window.smartcityMap.track().length") >= 1, timeout=5, msg="a track"
    )
    end = dash_duo.driver.execute_script("const t = window.smartcityMap.track(); return t[t.length - 1]")
    assert end == pytest.approx(list(at["bus"]))
    assert severe(dash_duo) == []


def test_the_search_box_finds_a_vehicle_by_plate_selects_it_and_flies_there(dash_duo: Any, city: Any) -> None:
    app, speed, at = city
    open_map(dash_duo, app)
    driver = dash_duo.driver
    box = driver.find_element(By.ID, "map-find")
    ActionChains(driver).move_to_element(box).click().send_keys("bkx 4821").send_keys(Keys.ENTER).perform()
    dash_duo._wait_for(lambda d: d.execute_script("return window.smartcityMap.selected()") == "car-1",
                       timeout=10, msg="car-1 selected")  # fmt: skip
    dash_duo.wait_for_contains_text("#map-details", "B-KX 4821", timeout=10)
    details = driver.find_element(By.ID, "map-details").text
    assert "car-1" in details and "Volkswagen Golf" in details and "31 km/h" in details
    # the panel follows the live city: a new report changes it, the fixed details stay
    speed.write([rec("vehicle_data", 0, device_id="car-1", location=list(at["car"]), speed=57.0, vehicle_type="car",
                     road_name="Adlergestell")])  # fmt: skip
    dash_duo.wait_for_contains_text("#map-details", "57 km/h", timeout=10)
    details = driver.find_element(By.ID, "map-details").text
    assert "Adlergestell" in details and "B-KX 4821" in details
    assert "car-1 · B-KX 4821" in driver.find_element(By.ID, "map-find-results").text
    rect = driver.find_element(By.CSS_SELECTOR, ".smartcity-map").rect

    def centred(d: Any) -> bool:  # the flight has landed with the car in the middle of the map
        point = d.execute_script(SCREEN, "vehicles", "car-1")
        return abs(point["x"] - rect["width"] / 2) < 3 and abs(point["y"] - rect["height"] / 2) < 3

    dash_duo._wait_for(centred, timeout=5, msg="the map centred on car-1")
    # a road finds the vehicles on it; no match says so in words
    box.clear()
    ActionChains(driver).move_to_element(box).click().send_keys("no-such-thing").send_keys(Keys.ENTER).perform()
    dash_duo.wait_for_contains_text("#map-find-results", "No active vehicle matches", timeout=10)
    assert severe(dash_duo) == []


def test_replay_last_hour_runs_the_selected_vehicles_route_from_the_lake(
    dash_duo: Any, city: Any, tmp_path: Path
) -> None:
    app, _, at = city
    lat, lon = at["car"]
    lake = LakeWriter(*open_lake(str(tmp_path / "lake")))  # the app's lake (api_settings)
    lake.add("gps_data", [rec("gps_data", 3000 - 100 * i, device_id="car-1", location=[lat - 0.002 + 0.0001 * i, lon],
                              speed=20.0 + i)[1] for i in range(30)])  # fmt: skip
    lake.flush()
    open_map(dash_duo, app)
    driver = dash_duo.driver
    mouse_to(dash_duo, "vehicles", "car-1").click().perform()
    dash_duo._wait_for(lambda d: d.execute_script("return window.smartcityMap.selected()") == "car-1", timeout=10,
                       msg="car-1 selected")  # fmt: skip
    go = driver.find_element(By.ID, "map-replay-go")
    ActionChains(driver).move_to_element(go).click().perform()
    dash_duo.wait_for_contains_text("#map-replay-status", "Replaying car-1", timeout=15)
    assert " of 30)" in driver.find_element(By.ID, "map-replay-status").text
    time.sleep(0.5)  # the view fitted to the route has drawn
    car = driver.execute_script(SCREEN, "vehicles", "car-1")  # the route runs due south of it
    on_route = pixels_at(dash_duo, car["x"], car["y"] + 60, side=13)  # a dash of it, at least
    ActionChains(driver).move_to_element(driver.find_element(By.ID, "map-replay-stop")).click().perform()
    dash_duo.wait_for_text_to_equal("#map-replay-status", "Replay stopped.", timeout=5)
    time.sleep(0.3)
    assert pixels_at(dash_duo, car["x"], car["y"] + 60, side=13) != on_route, "no replay route was drawn there"
    assert severe(dash_duo) == []


@pytest.mark.parametrize("renderer", list(DRAWN_WITH))
def test_each_renderer_draws_the_points_where_the_mouse_finds_them(dash_duo: Any, city: Any, renderer: str) -> None:
    """WebGL (a GPU's) and Canvas 2D (chosen where WebGL is software; drawn in a worker, or on the
    page's thread where there is no OffscreenCanvas) all put each point on screen where picking
    finds it: the pixels there change when its layer goes off."""
    app, _, _ = city
    open_map(dash_duo, app, renderer=renderer)
    driver = dash_duo.driver
    for name, layer, entity in (("Vehicles", "vehicles", "car-1"), ("Weather stations", "stations", "ws-9")):
        point = driver.execute_script(SCREEN, layer, entity)
        assert f"{entity}" in tooltip_of(dash_duo, layer, entity)
        mouse_at(dash_duo, 8, 200)  # the tooltip closed, off the point
        dash_duo._wait_for(lambda d: d.execute_script(TIP) is None, timeout=3, msg="no tooltip")
        shown = pixels_at(dash_duo, point["x"], point["y"])
        label = f"//*[@id='map-layers']//label[normalize-space()='{name}']"
        ActionChains(driver).move_to_element(driver.find_element(By.XPATH, label)).click().perform()
        dash_duo._wait_for(lambda d, x=layer: d.execute_script(HIDDEN, x), timeout=5, msg=f"{name} off")
        time.sleep(0.3)  # the next animation frame has drawn
        assert pixels_at(dash_duo, point["x"], point["y"]) != shown, f"{renderer} drew no {layer} point there"
    assert severe(dash_duo) == []


@pytest.mark.parametrize("renderer", list(DRAWN_WITH))
def test_zoomed_in_vehicles_show_an_arrow_of_their_heading(dash_duo: Any, city: Any, renderer: str) -> None:
    """At the city's zoom a heading changes no pixel; from street level in (the search flies there)
    the vehicle's arrow turns with it."""
    app, speed, at = city
    open_map(dash_duo, app, renderer=renderer)
    driver = dash_duo.driver

    def turn(heading: float) -> str:
        time.sleep(1.1)  # a newer second than the last report: the speed layer keeps the newest
        speed.write([rec("vehicle_data", 0, device_id="car-1", location=list(at["car"]), speed=31.0,
                         vehicle_type="car", heading=heading)])  # fmt: skip
        time.sleep(2.5)  # pushed, applied and drawn
        point = driver.execute_script(SCREEN, "vehicles", "car-1")
        return pixels_at(dash_duo, point["x"], point["y"], side=17)  # the whole disc (16 px zoomed in)

    assert turn(0) == turn(180), "a heading changed the pixels at the city's zoom"
    box = driver.find_element(By.ID, "map-find")
    ActionChains(driver).move_to_element(box).click().send_keys("car-1").send_keys(Keys.ENTER).perform()
    selected = "return window.smartcityMap.selected()"
    dash_duo._wait_for(lambda d: d.execute_script(selected) == "car-1", timeout=10, msg="car-1 found")
    mouse_at(dash_duo, 8, 200)  # no tooltip over the car
    north = turn(0)
    assert turn(180) != north, f"{renderer}: no arrow turned with the heading"
    assert severe(dash_duo) == []


def test_layers_toggle_cleanly_and_hidden_layers_are_not_picked(dash_duo: Any, city: Any) -> None:
    app, _, _ = city
    open_map(dash_duo, app)
    driver = dash_duo.driver
    visible = "return window.smartcityMap.visible(arguments[0])"
    alone = {"vehicles": "car-1", "sensors": "cam-9", "stations": "ws-9"}
    for name, layer in (("Incidents", "incidents"), ("Vehicles", "vehicles"), ("Traffic sensors", "sensors"),
                        ("Weather stations", "stations")):  # fmt: skip
        label = f"//*[@id='map-layers']//label[normalize-space()='{name}']"
        driver.find_element(By.XPATH, label).click()
        dash_duo._wait_for(lambda d, x=layer: not d.execute_script(visible, x), timeout=5, msg=f"{name} off")
        if layer == "incidents":  # the vehicle under the incident is picked now
            assert "taxi-under" in tooltip_of(dash_duo, "vehicles", "taxi-under")
        else:  # a hidden point shows nothing under the mouse
            point = driver.execute_script(SCREEN, layer, alone[layer])
            mouse_at(dash_duo, 8, 200)
            mouse_at(dash_duo, point["x"], point["y"])
            time.sleep(0.3)
            assert driver.execute_script(TIP) is None
        driver.find_element(By.XPATH, label).click()
        dash_duo._wait_for(lambda d, x=layer: d.execute_script(visible, x), timeout=5, msg=f"{name} on")
    assert "fire" in tooltip_of(dash_duo, "incidents", "i-9")
    assert "sensor cam-9" in tooltip_of(dash_duo, "sensors", "cam-9")
    # the roads (a dash-leaflet layer, fetched from their own address) are drawn, one line a road
    with app.server.test_request_context("/"):
        features = len(map_tab.network()["features"])
    drawn = "let n = 0; smartcityMap.leafletMap().eachLayer((l) => { if (l.feature && l.getLatLngs) n++; }); return n"
    dash_duo._wait_for(lambda d: d.execute_script(drawn) == features, timeout=10, msg=f"{features} roads drawn")
    # and toggle from the same list
    roads = "//*[@id='map-layers']//label[normalize-space()='Roads']"
    shown = "return getComputedStyle(document.querySelector('.leaflet-smartcity-roads-pane')).display"
    driver.find_element(By.XPATH, roads).click()
    dash_duo._wait_for(lambda d: d.execute_script(shown) == "none", timeout=5, msg="roads off")
    driver.find_element(By.XPATH, roads).click()
    dash_duo._wait_for(lambda d: d.execute_script(shown) != "none", timeout=5, msg="roads on")
    assert severe(dash_duo) == []


def test_follow_keeps_the_vehicle_in_the_centre(dash_duo: Any, city: Any) -> None:
    app, speed, at = city
    open_map(dash_duo, app)
    mouse_to(dash_duo, "vehicles", "car-1").click().perform()
    dash_duo.wait_for_contains_text("#map-details", "car-1", timeout=10)
    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='Follow']").click()
    stop = threading.Event()

    def drive() -> None:  # car-1 heads north-east, one report a second
        step = 0
        while not stop.wait(1.0):
            step += 1
            moved = [at["car"][0] + 0.0004 * step, at["car"][1] + 0.0006 * step]
            speed.write([rec("vehicle_data", 0, device_id="car-1", location=moved, speed=36.0, vehicle_type="car")])

    mover = threading.Thread(target=drive, daemon=True)
    mover.start()
    try:
        track = "return window.smartcityMap.track().length"
        dash_duo._wait_for(lambda d: d.execute_script(track) >= 6, timeout=15, msg="5 s of updates")
    finally:
        stop.set()
        mover.join(5)
    at = dash_duo.driver.execute_script(SCREEN, "vehicles", "car-1")
    size = dash_duo.driver.find_element(By.CSS_SELECTOR, ".smartcity-map").rect
    assert abs(at["x"] - size["width"] / 2) <= 3 and abs(at["y"] - size["height"] / 2) <= 3, (at, size)
    # the track ends at the marker
    end = dash_duo.driver.execute_script("const t = window.smartcityMap.track(); return t[t.length - 1]")
    row = dash_duo.driver.execute_script(
        "const live = window.smartcityLive, f = live.model.vehicle_fields, r = live.city.vehicles.get('car-1');"
        "return [r[f.indexOf('lat')], r[f.indexOf('lon')]]"
    )
    assert end == pytest.approx(row)
    assert severe(dash_duo) == []
