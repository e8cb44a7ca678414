"""The alert inbox, zones and rules in headless Chromium, with the real mouse and keyboard:
alerts there before the page are counted and never announced (a reload neither), a new one
raises one toast clear of the map's lists and a chime, acknowledging drops the count, an admin
draws a zone by clicking the map and adds a rule on System."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dash
import fakeredis
import pytest
import selenium
from flask import Flask
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app import create_app
from app.console import map as map_tab
from app.store import Store
from pipeline.alerts import AlertLog, make_alert
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, seed

COUNT = "return document.getElementById('inbox-count').textContent"
INBOX = "return window.smartcityInbox"


@pytest.fixture
def console(tmp_path: Path) -> tuple[Flask, AlertLog]:
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e-inbox:")
    seed(speed)  # incident i-1 (fire, high) and car-1 on the map
    server = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed))  # tile_url "": no network
    return server, server.extensions["smartcity.store"].alert_log(server.config.get("SMARTCITY_ALERTS_PREFIX", ""))


def alert(key: str, message: str, ago_s: float = 0, **fields: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat()
    values = {"kind": "zone_enter", "severity": "high", "entity": "car-1", "rule": None, **fields}
    return make_alert(key, values["kind"], values["severity"], message, at, values["entity"], values["rule"])


def start(dash_duo: Any, server: Flask, token: str, tab: str = "overview", size: tuple[int, int] = (1440, 900)) -> None:
    app: dash.Dash = server.extensions["smartcity.console"]
    dash_duo.start_server(app, navigate=False)
    dash_duo.driver.set_window_size(*size)
    dash_duo.driver.get(f"{dash_duo.server.url}/login?token={token}")
    dash_duo.driver.get(f"{dash_duo.server.url}/#{tab}")
    loaded(dash_duo)


def loaded(dash_duo: Any) -> None:
    """The page is up and has the live city (however old the seeded city is by now)."""
    dash_duo.wait_for_element("#inbox-count", timeout=20)
    dash_duo._wait_for(lambda d: d.execute_script("return window.smartcityLive.messages > 0"), timeout=20,
                       msg="the live city")  # fmt: skip


def polled(dash_duo: Any, more: int) -> None:
    """Wait until the page has heard the alert log ``more`` more times."""
    now = dash_duo.driver.execute_script(INBOX + ".polls")
    dash_duo._wait_for(lambda d: d.execute_script(INBOX + ".polls") >= now + more, timeout=15,
                       msg=f"{more} more answers of the alert log")  # fmt: skip


def count_is(dash_duo: Any, text: str) -> None:
    dash_duo._wait_for(lambda d: d.execute_script(COUNT) == text, timeout=10, msg=f"unread count {text}")


def click(driver: Any, element: Any) -> None:
    """A real click where ``element`` is on screen (the mouse moves there and presses)."""
    ActionChains(driver).move_to_element(element).click().perform()


def click_text(dash_duo: Any, xpath: str) -> None:
    """Click the element found by ``xpath`` with the mouse, again if it was redrawn meanwhile."""

    def clicked(d: Any) -> bool:
        try:
            click(d, d.find_element(By.XPATH, xpath))
            return True
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    dash_duo._wait_for(clicked, timeout=10, msg=f"clicked {xpath}")


def open_panel(dash_duo: Any) -> None:
    click(dash_duo.driver, dash_duo.find_element("#inbox-bell"))
    dash_duo.wait_for_element("#inbox-list .inbox-item", timeout=10)
    where = "const r = document.querySelector('.offcanvas').getBoundingClientRect(); return [r.x, r.y, r.width]"
    last: list[Any] = []

    def still(d: Any) -> bool:  # slid in: the mouse finds its buttons where they stay
        now = d.execute_script(where)
        done = now == last
        last[:] = now
        return done

    dash_duo._wait_for(still, timeout=5, msg="the panel in place")


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])  # fmt: skip


def severe(dash_duo: Any) -> list[dict[str, Any]]:
    return [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]


def test_alerts_there_before_the_page_are_counted_and_never_announced(dash_duo: Any, console: Any) -> None:
    server, log = console
    log.add([alert("a-old", "car-1 entered Centre", ago_s=600),
             alert("incident:i-1", "New high incident: fire", ago_s=60, kind="incident", entity="i-1")])  # fmt: skip
    start(dash_duo, server, "viewer-token")
    count_is(dash_duo, "2")
    polled(dash_duo, 2)
    for _ in range(2):  # the page as loaded, then reloaded: the count, and nothing announced
        assert dash_duo.driver.execute_script(INBOX + ".toasts") == 0
        assert dash_duo.driver.find_elements(By.CSS_SELECTOR, ".inbox-toast") == []
        assert dash_duo.driver.execute_script(INBOX + ".chimes") == 0
        dash_duo.driver.refresh()
        loaded(dash_duo)
        count_is(dash_duo, "2")
        polled(dash_duo, 2)

    open_panel(dash_duo)  # newest first, in words, with no Acknowledge for a viewer
    items = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#inbox-list .inbox-item")
    assert [i.find_element(By.CSS_SELECTOR, ".inbox-message").get_attribute("textContent") for i in items] == [
        "New high incident: fire", "car-1 entered Centre"]  # fmt: skip
    assert "min ago" in items[0].get_attribute("textContent") and "10 min ago" in items[1].get_attribute("textContent")
    assert dash_duo.driver.find_elements(By.XPATH, "//div[@id='inbox-list']//button[text()='Acknowledge']") == []

    click_text(dash_duo, "//div[contains(@class,'inbox-item')][.//*[text()='New high incident: fire']]"
                         "//button[text()='Show on map']")  # fmt: skip
    dash_duo.wait_for_contains_text("#map-details", "i-1", timeout=10)
    assert "active" in dash_duo.driver.find_element(By.LINK_TEXT, "Map").get_attribute("class")

    assert severe(dash_duo) == []

    real = server.extensions["smartcity.alerts"]  # the alert log stops answering: said in words

    class Down:
        def __getattr__(self, name: str) -> Any:
            raise ConnectionError("alert log down")

    server.extensions["smartcity.alerts"] = Down()
    dash_duo.wait_for_contains_text("#inbox-stale", "alerts stale: no answer for", timeout=15)
    server.extensions["smartcity.alerts"] = real
    dash_duo._wait_for(lambda d: not d.find_element(By.ID, "inbox-stale").is_displayed(), timeout=15,
                       msg="the stale note gone once the alert log answers")  # fmt: skip
    assert dash_duo.driver.execute_script(INBOX + ".toasts") == 0
    assert [e for e in severe(dash_duo) if "/api/alerts" not in e["message"]] == []  # only its failed answers


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)], ids=["desktop", "phone"])
def test_a_new_alert_raises_one_toast_and_acknowledging_it_drops_the_count(
    dash_duo: Any, console: Any, size: tuple[int, int]
) -> None:
    server, log = console
    log.add([alert("a-old", "car-1 entered Centre", ago_s=600)])
    start(dash_duo, server, "operator-token", tab="map", size=size)
    count_is(dash_duo, "1")
    polled(dash_duo, 1)
    driver = dash_duo.driver
    click(driver, driver.find_element(By.CSS_SELECTOR, ".navbar-brand"))  # a click: the browser may play sound now
    dash_duo._wait_for(lambda d: not d.find_element(By.ID, "inbox-sound-note").is_displayed(), timeout=5,
                       msg="sound allowed after a click")  # fmt: skip

    log.add([alert("a-new", "bridge <b>down</b>", severity="critical", kind="incident", entity="i-1")])
    dash_duo.wait_for_contains_text("#inbox-toasts", "bridge <b>down</b>", timeout=10)  # as text, not HTML
    count_is(dash_duo, "2")
    polled(dash_duo, 2)  # announced once, not again on the next answers
    assert len(driver.find_elements(By.CSS_SELECTOR, ".inbox-toast")) == 1
    assert driver.execute_script(INBOX + ".chimes") == 1  # Sound is on by default
    toast = driver.find_element(By.CSS_SELECTOR, ".inbox-toast").rect
    for covered in ("map-layers", "map-types"):  # the layer list and the vehicle filters stay clear
        box = driver.find_element(By.ID, covered)
        if box.is_displayed() and box.rect["y"] < size[1]:
            assert not overlaps(toast, box.rect), covered

    open_panel(dash_duo)
    new_item = "//div[contains(@class,'inbox-item')][.//*[text()='bridge <b>down</b>']]"
    click_text(dash_duo, new_item + "//button[text()='Acknowledge']")
    count_is(dash_duo, "1")
    dash_duo._wait_for(lambda d: not d.find_elements(By.XPATH, new_item), timeout=10, msg="gone from Unread")
    click_text(dash_duo, "//div[@id='inbox-view']//label[normalize-space()='All']")
    dash_duo.wait_for_contains_text("#inbox-list", "acknowledged by", timeout=10)
    polled(dash_duo, 1)
    assert driver.execute_script(INBOX + ".toasts") == 1
    assert log.unread_count() == 1
    assert severe(dash_duo) == []


def map_point(server: Flask, dx: float, dy: float) -> tuple[float, float]:
    """Latitude/longitude of the point (dx, dy) px from the map's centre as the page opens."""
    with server.test_request_context("/"):
        lat, lon = map_tab.bbox_centre(map_tab.network())
        zoom = map_tab.fit_zoom(map_tab.network())
    scale = 256 * 2**zoom
    y = scale / 2 - scale / (2 * math.pi) * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) + dy
    return math.degrees(2 * math.atan(math.exp((scale / 2 - y) * 2 * math.pi / scale)) - math.pi / 2), \
        lon + dx * 360 / scale  # fmt: skip


def click_map(dash_duo: Any, dx: int, dy: int) -> None:
    """A real click (dx, dy) px from the centre of the map."""
    container = dash_duo.driver.find_element(By.CSS_SELECTOR, ".smartcity-map")
    if tuple(int(p) for p in selenium.__version__.split(".")[:2]) < (4, 3):  # offsets from the top-left then
        dx, dy = dx + round(container.rect["width"] / 2), dy + round(container.rect["height"] / 2)
    chain = ActionChains(dash_duo.driver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        chain.move_to_element_with_offset(container, dx, dy)
    chain.click().perform()


def test_an_admin_draws_a_zone_by_clicking_the_map_and_adds_a_rule_for_it(dash_duo: Any, console: Any) -> None:
    server, _ = console
    start(dash_duo, server, "admin-token", tab="map", size=(1400, 1000))
    dash_duo.wait_for_contains_text("#zone-list", "None yet.", timeout=10)
    driver = dash_duo.driver
    click(driver, driver.find_element(By.ID, "zone-draw"))
    corners = [(-120, -80), (110, -70), (20, 100)]
    for dx, dy in corners:
        click_map(dash_duo, dx, dy)
    dash_duo.wait_for_contains_text("#zone-feedback", "3 corners", timeout=5)
    assert driver.execute_script("return window.smartcityMap.selected()") is None  # clicks drew, picked nothing
    name = driver.find_element(By.ID, "zone-name")
    ActionChains(driver).move_to_element(name).click().send_keys("Depot <yard>").perform()
    click(driver, driver.find_element(By.ID, "zone-save"))
    dash_duo.wait_for_contains_text("#zone-feedback", "Zone Depot <yard> saved.", timeout=10)
    dash_duo.wait_for_contains_text("#zone-list", "Depot <yard>", timeout=10)
    dash_duo.wait_for_contains_text(".smartcity-map .smartcity-zone-label", "Depot <yard>", timeout=5)

    got = server.test_client().get("/api/zones", headers={"Authorization": "Bearer admin-token"}).json["zones"]
    assert [z["properties"]["name"] for z in got] == ["Depot <yard>"]
    ring = got[0]["geometry"]["coordinates"][0]
    assert len(ring) == 4 and ring[0] == ring[-1]
    with server.test_request_context("/"):
        tolerance = 4 * 360 / (256 * 2 ** map_tab.fit_zoom(map_tab.network()))  # 4 px, in degrees
    for (lon, lat), (dx, dy) in zip(ring, corners, strict=False):
        want_lat, want_lon = map_point(server, dx, dy)
        assert abs(lon - want_lon) < tolerance and abs(lat - want_lat) < tolerance

    click(driver, driver.find_element(By.LINK_TEXT, "System"))
    dash_duo._wait_for(lambda d: "Depot <yard>" in d.execute_script(
        "return Array.from(document.querySelectorAll('#rule-zone option')).map((o) => o.textContent).join('|')"),
        timeout=10, msg="the zone offered to rules")  # fmt: skip
    rule_name = driver.find_element(By.ID, "rule-name")
    ActionChains(driver).move_to_element(rule_name).click().send_keys("Trucks in the depot").perform()
    zone = driver.find_element(By.ID, "rule-zone")
    ActionChains(driver).move_to_element(zone).click().send_keys("Depot").send_keys(Keys.ENTER).perform()
    click(driver, driver.find_element(By.ID, "rule-add"))
    dash_duo.wait_for_contains_text("#rule-feedback", "Rule Trucks in the depot added.", timeout=10)
    dash_duo.wait_for_contains_text("#rule-list", "Trucks in the depot", timeout=10)
    rules = server.test_client().get("/api/rules", headers={"Authorization": "Bearer admin-token"}).json["rules"]
    assert [(r["name"], r["kind"], r["zone"]) for r in rules] == [("Trucks in the depot", "zone_enter",
                                                                   got[0]["properties"]["id"])]  # fmt: skip
    assert severe(dash_duo) == []
