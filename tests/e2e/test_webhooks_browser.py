"""The System tab's Webhooks panel in headless Chromium: each hook's status and the dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash
import fakeredis
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from app import create_app
from app.store import Store
from app.webhooks import parse_hook
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, seed

ALERT = b'{"id":"a-1","kind":"aqi","severity":"high","message":"AQI 180 at ws-3","entity":"ws-3"}'


def test_an_operator_sees_a_failing_webhook_and_its_dead_letter_in_the_system_tab(
    dash_duo: Any, tmp_path: Path
) -> None:
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e:")
    seed(speed)
    server = create_app(api_settings(tmp_path, tile_url=""), store=Store(speed))
    hooks = server.extensions["smartcity.webhooks"]
    hook_id = hooks.add(parse_hook({"url": "https://hooks.example.com/T0/secretpath", "secret": "s",
                                    "min_severity": "high"}), "ada")  # fmt: skip
    hooks.record(hook_id, "retrying", 500, "HTTP 500")
    hooks.record(hook_id, "failed", 500, "HTTP 500")
    hooks.dead_letter(ALERT, hook_id, 5, "HTTP 500")
    app: dash.Dash = server.extensions["smartcity.console"]
    dash_duo.start_server(app, navigate=False)
    dash_duo.driver.get(f"{dash_duo.server.url}/login?token=operator-token")
    dash_duo.wait_for_element(".leaflet-container", timeout=10)
    # the console is up (its first callbacks answered) before the operator reaches for a tab: a
    # click in the page's first moments was once lost under a loaded CI machine
    dash_duo.wait_for_contains_text("#shell-badge", "live", timeout=15)
    tab = dash_duo.driver.find_element(By.LINK_TEXT, "System")
    ActionChains(dash_duo.driver).move_to_element(tab).click().perform()  # the real mouse
    dash_duo.wait_for_contains_text("#system-webhooks", "Webhook dead letters", timeout=15)
    panel = dash_duo.find_element("#system-webhooks").text
    assert "https://hooks.example.com" in panel and "secretpath" not in panel
    assert "failed" in panel and "HTTP 500" in panel and "high aqi: AQI 180 at ws-3" in panel
    assert dash_duo.get_logs() == []
