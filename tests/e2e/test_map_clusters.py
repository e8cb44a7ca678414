"""The live map zoomed out: vehicles become bubbles with their count and their split by status,
which the real mouse hovers (counts by status) and clicks (zooms in); incidents stay on top. And a
vehicle's status in words, on its tooltip and in its panel (headless Chromium, real input)."""

from __future__ import annotations

import base64
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import dash
import fakeredis
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from app import create_app
from app.console import map as map_tab
from app.store import Store
from pipeline.speed_layer import SpeedLayer, SpeedLayerConfig
from tests.city import api_settings, rec
from tests.e2e.test_map_input import TIP, mouse_at, mouse_to, pixels_at, severe

ZOOMED_OUT = map_tab.CLUSTERS["below_zoom"] - 2  # two clicks on the zoom control's "−"
ZOOM = "return window.smartcityMap.leafletMap().getZoom()"
CLUSTERS = "return window.smartcityMap.clusters()"
# the group: moving (driving), parked (the device says so), offsets in px at the city's zoom
GROUP = {
    "car-1": (0, 0, "driving", 31.0), "car-2": (6, 4, "driving", 44.0), "taxi-1": (-5, 5, "driving", 18.0),
    "bus-1": (4, -6, "at_stop", 0.0), "car-3": (-6, -3, "parked", 0.0), "truck-1": (2, 7, "parked", 0.0),
}  # fmt: skip
OFFLINE_AGO_S = 75  # car-9's last report: past offline_after (60 s), within the active window (120 s)
INCIDENT_PX = (60, 0)  # right of the group at the city's zoom: on the bubble's edge zoomed out


def group_centre(server: Any) -> tuple[float, float, int]:
    """Latitude/longitude of the centre of the cluster cell at the map's centre zoomed out (the
    group then makes one bubble, whatever the network's centre), and the city's zoom."""
    with server.test_request_context("/"):
        lat, lon = map_tab.bbox_centre(map_tab.network())
        zoom = map_tab.fit_zoom(map_tab.network())
    world = 256 * 2**ZOOMED_OUT
    cell = map_tab.CLUSTERS["cell"]
    x = world * (0.5 + lon / 360)
    y = world * (0.5 - math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / (2 * math.pi))
    cx, cy = (math.floor(x / cell) + 0.5) * cell, (math.floor(y / cell) + 0.5) * cell
    lon_c = (cx / world - 0.5) * 360
    lat_c = math.degrees(2 * math.atan(math.exp((0.5 - cy / world) * 2 * math.pi)) - math.pi / 2)
    return lat_c, lon_c, zoom


def offset(lat: float, lon: float, zoom: int, dx: float, dy: float) -> list[float]:
    per_degree = 256 * 2**zoom / 360
    return [lat - dy / (per_degree / math.cos(math.radians(lat))), lon + dx / per_degree]


def console(tmp_path: Path, active_s: float = 120.0) -> tuple[dash.Dash, SpeedLayer, tuple[float, float, int]]:
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e-clusters:", SpeedLayerConfig(active_s=active_s))
    server = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed))  # tile_url "": no network
    return server.extensions["smartcity.console"], speed, group_centre(server)


def seed(speed: SpeedLayer, lat: float, lon: float, zoom: int) -> None:
    vehicles = [
        rec("vehicle_data", 2, device_id=dev, location=offset(lat, lon, zoom, dx, dy), speed=kmh, status=status,
            vehicle_type=dev.split("-")[0])
        for dev, (dx, dy, status, kmh) in GROUP.items()
    ]  # fmt: skip
    incident = rec("emergency_data", 30, device_id="u1", incidentId="i-9", incident_type="fire", status="Active",
                   location=offset(lat, lon, zoom, *INCIDENT_PX), severity="critical", description="smoke")  # fmt: skip
    silent = rec("vehicle_data", OFFLINE_AGO_S, device_id="car-9", location=offset(lat, lon, zoom, 3, 3), speed=20.0,
                 status="driving", vehicle_type="car")  # fmt: skip
    speed.write([*vehicles, silent, incident])


def open_map(dash_duo: Any, app: dash.Dash, vehicles: int, dark: bool = False) -> None:
    dash_duo.start_server(app, navigate=False)
    driver = dash_duo.driver
    driver.set_window_size(1400, 1000)
    driver.get(f"{dash_duo.server.url}/login?token=viewer-token")
    driver.get(f"{dash_duo.server.url}/#map")
    dash_duo.wait_for_contains_text("#shell-badge", "live", timeout=10)
    drawn = f"return window.smartcityMap.count('vehicles') === {vehicles}"
    dash_duo._wait_for(lambda d: d.execute_script(drawn), timeout=10, msg="the city on the map")
    if dark:  # the theme switch, with the real mouse
        switch = driver.find_element(By.XPATH, "//label[normalize-space()='Dark']")
        ActionChains(driver).move_to_element(switch).click().perform()
        dash_duo._wait_for(
            lambda d: d.execute_script("return document.documentElement.getAttribute('data-bs-theme')") == "dark",
            timeout=5, msg="dark theme",
        )  # fmt: skip


def zoom_control(dash_duo: Any, which: str, times: int) -> None:
    """The real mouse clicks the map's zoom control (``in`` or ``out``) ``times`` times."""
    for _ in range(times):
        before = dash_duo.driver.execute_script(ZOOM)
        button = dash_duo.driver.find_element(By.CSS_SELECTOR, f".smartcity-map .leaflet-control-zoom-{which}")
        ActionChains(dash_duo.driver).move_to_element(button).click().perform()
        dash_duo._wait_for(lambda d, b=before: d.execute_script(ZOOM) != b, timeout=5, msg=f"zoom {which}")


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def rgb(png_b64: str) -> tuple[int, int, int]:
    """The centre pixel of a PNG (8-bit RGB or RGBA, as Chromium captures), decoded here."""
    data = base64.b64decode(png_b64)
    width, height, depth, kind = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and kind in (2, 6), (depth, kind)
    chunks, at = b"", 8
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            chunks += data[at + 8 : at + 8 + size]
        at += 12 + size
    raw, bpp = zlib.decompress(chunks), 3 if kind == 2 else 4
    stride, rows, prev = width * bpp, [], bytearray(width * bpp)
    for r in range(height):
        f, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        for i in range(stride):
            a, b = line[i - bpp] if i >= bpp else 0, prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[f]
            line[i] = (line[i] + pred) & 255
        rows.append(line)
        prev = line
    px = rows[height // 2][(width // 2) * bpp : (width // 2) * bpp + 3]
    return px[0], px[1], px[2]


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_zoomed_out_vehicles_are_bubbles_with_counts_by_status_that_zoom_in_when_clicked(
    dash_duo: Any, tmp_path: Path, dark: bool
) -> None:
    app, speed, (lat, lon, zoom) = console(tmp_path)
    seed(speed, lat, lon, zoom)
    open_map(dash_duo, app, len(GROUP) + 1, dark)
    driver = dash_duo.driver
    assert driver.execute_script(ZOOM) == zoom and not driver.execute_script("return window.smartcityMap.clustered()")
    assert driver.execute_script(CLUSTERS) == []  # at the city's zoom: points, as before

    zoom_control(dash_duo, "out", zoom - ZOOMED_OUT)
    dash_duo._wait_for(lambda d: len(d.execute_script(CLUSTERS)) == 1, timeout=5, msg="one bubble")
    (bubble,) = driver.execute_script(CLUSTERS)
    assert (bubble["count"], bubble["moving"], bubble["parked"], bubble["offline"]) == (7, 4, 2, 1)
    assert driver.execute_script("return window.smartcityMap.has('incidents', 'i-9')")

    # the screen shows the bubble: its inside differs from the same spot with vehicles hidden
    shown = pixels_at(dash_duo, bubble["x"] - 6, bubble["y"] - 6, side=9)
    vehicles = driver.find_element(By.XPATH, "//label[normalize-space()='Vehicles']")
    ActionChains(driver).move_to_element(vehicles).click().perform()
    dash_duo._wait_for(lambda d: d.execute_script(CLUSTERS) == [], timeout=5, msg="no bubble with vehicles hidden")
    assert pixels_at(dash_duo, bubble["x"] - 6, bubble["y"] - 6, side=9) != shown
    ActionChains(driver).move_to_element(vehicles).click().perform()
    dash_duo._wait_for(lambda d: len(d.execute_script(CLUSTERS)) == 1, timeout=5, msg="the bubble back")
    # legible in the theme: the disc is the page's background, light or dark
    r, g, b = rgb(pixels_at(dash_duo, bubble["x"] - 6, bubble["y"] - 6, side=5))
    luminance = (0.299 * r + 0.587 * g + 0.114 * b) / 255
    assert (luminance < 0.3) if dark else (luminance > 0.85), (r, g, b)

    # hovering the bubble (left of the incident on its edge) tells the counts by status
    mouse_at(dash_duo, 8, 200)
    dash_duo._wait_for(lambda d: d.execute_script(TIP) is None, timeout=3, msg="no tooltip off the bubble")
    mouse_at(dash_duo, bubble["x"] - 6, bubble["y"])
    dash_duo._wait_for(lambda d: d.execute_script(TIP), timeout=3, msg="the bubble's tooltip")
    tip = driver.execute_script(TIP)
    assert "7 vehicles" in tip and "4 moving · 2 parked · 1 offline" in tip
    # the incident stays a point on top of the bubble, picked first
    mouse_to(dash_duo, "incidents", "i-9")
    dash_duo._wait_for(lambda d: "fire · critical" in (d.execute_script(TIP) or ""), timeout=3, msg="the incident")

    # a click on the bubble zooms in on it: the vehicles are points again
    mouse_at(dash_duo, bubble["x"] - 6, bubble["y"]).click().perform()
    dash_duo._wait_for(lambda d: d.execute_script(ZOOM) > ZOOMED_OUT, timeout=5, msg="zoomed in")
    dash_duo._wait_for(lambda d: d.execute_script(ZOOM) >= map_tab.CLUSTERS["below_zoom"], timeout=5, msg="points")
    dash_duo._wait_for(lambda d: d.execute_script(CLUSTERS) == [], timeout=5, msg="no bubbles zoomed in")
    assert severe(dash_duo) == []


def test_a_vehicles_status_is_told_in_words_on_its_tooltip_and_in_its_panel(dash_duo: Any, tmp_path: Path) -> None:
    active_s = 40.0  # short, so that a silent vehicle goes offline (after half of it) and leaves within the test
    app, speed, (lat, lon, zoom) = console(tmp_path, active_s)
    seed(speed, lat, lon, zoom)
    speed.write([rec("vehicle_data", 1, device_id="car-far", location=offset(lat, lon, zoom, -200, 120),
                     speed=0.0, status="parked", vehicle_type="car")])  # fmt: skip
    open_map(dash_duo, app, len(GROUP) + 1)  # car-9 is past this short window: not on the map
    driver = dash_duo.driver
    mouse_at(dash_duo, 8, 200)
    mouse_to(dash_duo, "vehicles", "car-far")
    dash_duo._wait_for(lambda d: "car-far" in (d.execute_script(TIP) or ""), timeout=3, msg="its tooltip")
    assert "online — parked" in driver.execute_script(TIP)
    mouse_to(dash_duo, "vehicles", "car-far").click().perform()
    dash_duo.wait_for_text_to_equal("#map-vehicle-status", "online — parked", timeout=10)
    # nothing more from it: offline after half the active window, it leaves the map at its end, and
    # its panel says since when
    dash_duo.wait_for_contains_text("#map-vehicle-status", "offline (last seen", timeout=active_s + 15)
    gone = "return !window.smartcityMap.has('vehicles', 'car-far')"  # at the live client's next message
    assert driver.execute_script("return window.smartcityMap.has('vehicles', 'car-far')")  # offline, still shown
    dash_duo._wait_for(lambda d: d.execute_script(gone), timeout=active_s, msg="car-far off the map")
    assert "s ago)" in driver.find_element(By.ID, "map-vehicle-status").text
    assert severe(dash_duo) == []
