"""The console is honest about its live data, in a real browser on a real Redis: old data turns
the badge amber then red and marks the figures stale; a speed layer that goes away (killed, or
down when the page opens) is named, and the console recovers by itself when it returns; vehicles
silent for the active window leave.

What a person would see is read from the page's text; the thresholds come from the page's live
model (``pipeline.live_model``), so the waits below are "threshold + 10 s", never a wall time.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dash
import redis
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from app import create_app
from app.store import Store
from pipeline import live_model
from pipeline.speed_layer import SpeedLayer, SpeedLayerConfig
from tests.city import api_settings, rec, seed
from tests.services import RedisServer, free_port

AMBER_S, RED_S = live_model.STALE_AMBER_S, live_model.STALE_RED_S
NOTICE_S = 10  # a cause is on screen within this long
LOAD_S = 30  # a page (and a tab's first build) loads within this long on a busy machine
ON_REDIS = re.compile("/api/(live|alerts|zones)")  # what the page asks of Redis: 503 while it is away


def console(tmp_path: Path, port: int, active_s: float = 120.0) -> tuple[dash.Dash, SpeedLayer]:
    """The console on the Redis at ``port`` (which may be down), served by dash_duo."""
    speed = SpeedLayer(redis.Redis(port=port), f"state{port}:", SpeedLayerConfig(active_s=active_s))
    server = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed))  # tile_url "": no network
    return server.extensions["smartcity.console"], speed


def write_fresh(speed: SpeedLayer, device: str = "car-1") -> None:
    speed.write([rec("vehicle_data", 0, device_id=device, location=[52.441, 13.521], speed=30.0, vehicle_type="car")])


@contextlib.contextmanager
def feeding(speed: SpeedLayer, device: str = "bus-9") -> Iterator[None]:
    """A pipeline writing one vehicle event a second (and riding out a speed layer that is away)."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(1.0):
            with contextlib.suppress(redis.RedisError):
                write_fresh(speed, device)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def open_console(dash_duo: Any, app: dash.Dash, tab: str = "overview") -> None:
    dash_duo.start_server(app, navigate=False)
    dash_duo.driver.get(f"{dash_duo.server.url}/login?token=viewer-token")
    dash_duo.driver.get(f"{dash_duo.server.url}/#{tab}")


def badge(dash_duo: Any) -> tuple[str, str]:
    el = dash_duo.driver.find_element(By.ID, "shell-badge")
    return el.text, el.get_attribute("class")


def wait_badge(dash_duo: Any, ok: Callable[[str, str], bool], timeout: float, msg: str) -> None:
    dash_duo._wait_for(lambda _: ok(*badge(dash_duo)), timeout=timeout, msg=lambda: f"{msg}; badge: {badge(dash_duo)}")


def mouse_click(dash_duo: Any, element: Any) -> None:
    ActionChains(dash_duo.driver).move_to_element(element).click().perform()


def card(dash_duo: Any, key: str) -> str:
    return str(dash_duo.driver.find_element(By.ID, f"overview-card-{key}").text)


def test_old_data_turns_the_badge_amber_then_red_and_marks_the_cards_stale(dash_duo: Any, tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        app, speed = console(tmp_path, server.port)
        seed(speed)
        open_console(dash_duo, app)
        wait_badge(dash_duo, lambda t, c: "via push" in t, LOAD_S, "connected")
        write_fresh(speed)  # new data, now that the page is up
        wait_badge(dash_duo, lambda t, c: "live via push" in t and "bg-success" in c, NOTICE_S, "green")
        dash_duo.wait_for_text_to_equal("#overview-card-vehicles", "3", timeout=LOAD_S)
        assert "(stale)" not in dash_duo.find_element("#overview-cards").text
        # nothing more arrives: amber past the first threshold, with the reason and the cards marked
        wait_badge(dash_duo, lambda t, c: "no data for" in t and "bg-warning" in c, AMBER_S + NOTICE_S, "amber")
        dash_duo.wait_for_contains_text("#overview-cards", "(stale)", timeout=NOTICE_S)
        assert "stale" in dash_duo.find_element("#overview-cards").get_attribute("class")
        wait_badge(dash_duo, lambda t, c: "no data for" in t and "bg-danger" in c, RED_S + NOTICE_S, "red")
        # data again: green, and the marks go
        with feeding(speed):
            wait_badge(dash_duo, lambda t, c: "live via push" in t and "bg-success" in c, NOTICE_S, "green again")
            dash_duo._wait_for(lambda d: "(stale)" not in d.find_element(By.ID, "overview-cards").text, timeout=5,
                               msg="stale marks gone")  # fmt: skip
        assert dash_duo.get_logs() == []


def test_a_killed_speed_layer_is_named_and_the_console_recovers_by_itself(dash_duo: Any, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        app, speed = console(tmp_path, server.port)
        seed(speed)
        with feeding(speed):
            open_console(dash_duo, app, "traffic")
            wait_badge(dash_duo, lambda t, c: "live via push" in t and "bg-success" in c, LOAD_S, "green at first")
            dash_duo.wait_for_contains_text("#traffic-table", "cam-2", timeout=LOAD_S)
            server.kill()  # SIGKILL, as a crash
            wait_badge(dash_duo, lambda t, c: "speed layer unreachable" in t and "bg-danger" in c, NOTICE_S,
                       "red: unreachable")  # fmt: skip
            dash_duo.wait_for_contains_text("#tab-traffic-body", "(stale)", timeout=NOTICE_S)  # the grid is marked
            server.start()  # the same port, an empty Redis; the pipeline writes on
            wait_badge(dash_duo, lambda t, c: "live via push" in t and "bg-success" in c, 2 * NOTICE_S,
                       "green again, no reload")  # fmt: skip
        assert dash_duo.driver.execute_script("return location.search") == ""  # never reloaded
    finally:
        server.stop()
    # while Redis was away the page's own probe of the speed layer, the inbox and the zones got 503s; nothing else
    errors = [e["message"] for e in dash_duo.get_logs() or [] if not ON_REDIS.search(e["message"])]
    assert errors == [], "\n".join(errors)


def test_a_console_opened_while_redis_is_down_says_so_and_recovers(dash_duo: Any, tmp_path: Path) -> None:
    port = free_port()
    app, speed = console(tmp_path, port)
    open_console(dash_duo, app)
    wait_badge(dash_duo, lambda t, c: "speed layer unreachable" in t and "bg-danger" in c, LOAD_S, "unreachable")
    with RedisServer(tmp_path / "redis", port) as _server:
        seed(speed)
        with feeding(speed):
            wait_badge(dash_duo, lambda t, c: "live via" in t and "bg-success" in c, 2 * NOTICE_S, "recovered")
            # the city's vehicles on the card again (how many of the seeded ones depends on when the hub
            # first read the returned Redis; the pipeline's vehicle is there in any case)
            dash_duo._wait_for(lambda _: card(dash_duo, "vehicles") not in ("–", "0"), timeout=NOTICE_S,
                               msg="vehicles on the card")  # fmt: skip
    errors = [e["message"] for e in dash_duo.get_logs() or [] if not ON_REDIS.search(e["message"])]
    assert errors == [], "\n".join(errors)


def test_vehicles_silent_for_the_active_window_leave(dash_duo: Any, tmp_path: Path) -> None:
    active_s = 20.0  # vehicles silent this long leave (the pipeline's other vehicle keeps the city live)
    with RedisServer(tmp_path / "redis") as server:
        app, speed = console(tmp_path, server.port, active_s=active_s)
        with feeding(speed, "bus-9"):
            open_console(dash_duo, app, "emergency")
            wait_badge(dash_duo, lambda t, c: "live via push" in t, LOAD_S, "live")
            write_fresh(speed, "car-1")
            mouse_click(dash_duo, dash_duo.driver.find_element(By.LINK_TEXT, "Overview"))
            dash_duo.wait_for_text_to_equal("#overview-card-vehicles", "2", timeout=NOTICE_S)
            has = "return window.smartcityLive.city.vehicles.has(arguments[0])"
            assert dash_duo.driver.execute_script(has, "car-1")
            # car-1 says nothing more; bus-9 goes on: car-1 leaves the city after the active window
            dash_duo.wait_for_text_to_equal("#overview-card-vehicles", "1", timeout=active_s + NOTICE_S)
            assert not dash_duo.driver.execute_script(has, "car-1")
            assert dash_duo.driver.execute_script(has, "bus-9")
            assert "live via push" in badge(dash_duo)[0]  # the city is live; one vehicle left it
    assert dash_duo.get_logs() == []
