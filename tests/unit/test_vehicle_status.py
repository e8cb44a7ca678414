"""A vehicle's status in words (``assets/smartcity_status.js``, the one place it is decided):
run under Node with the live read model the page carries, case by case."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.console import map as map_tab
from pipeline import live_model

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "assets" / "smartcity_status.js"
ACTIVE_S = 120.0
MODEL = live_model.browser_config(ACTIVE_S, 900.0)
NOW = 1_800_000_000_000  # ms, the city's clock
PARKED_AFTER_MS = MODEL["vehicle_states"]["parked_after_ms"]

RUNNER = """
global.window = {};
require(process.argv[1]);
const model = JSON.parse(process.argv[2]), cases = JSON.parse(process.argv[3]);
const st = window.smartcityStatus;
console.log(JSON.stringify(cases.map((c) => st.vehicleStatus(c[0], c[1], c[2], c[3], c[4], model))));
"""


def statuses(cases: list[tuple[Any, ...]]) -> list[dict[str, str]]:
    """``vehicleStatus(status, speed, ts, stillSince, now)`` of each case, as the browser computes it."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        if os.environ.get("CI"):  # scripts/system-packages.sh installs it
            pytest.fail("node missing: scripts/system-packages.sh should have installed it")
        pytest.skip("needs node (scripts/system-packages.sh installs it)")
    out = subprocess.run(
        [node, "-e", RUNNER, str(SCRIPT), json.dumps(MODEL), json.dumps(cases)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    result: list[dict[str, str]] = json.loads(out.stdout)
    return result


def text(status: str | None, speed: float | None, ts: float | None, still: float | None, now: float | None) -> str:
    return statuses([(status, speed, ts, still, now)])[0]["text"]


def test_a_vehicle_reporting_at_speed_is_online_and_moving() -> None:
    assert statuses([("driving", 31.0, NOW - 1000, None, NOW)]) == [{"state": "moving", "text": "online — moving"}]


def test_a_vehicle_its_device_calls_parked_is_parked_at_once() -> None:
    assert statuses([("parked", 0.0, NOW - 1000, NOW - 1000, NOW)]) == [{"state": "parked", "text": "online — parked"}]


def test_standing_still_turns_parked_only_after_the_threshold() -> None:
    # a red light or a queue is still moving traffic; standing longer than the threshold is parked
    short, long = statuses([
        ("stopped", 0.0, NOW - 1000, NOW - PARKED_AFTER_MS + 5000, NOW),
        ("stopped", 0.0, NOW - 1000, NOW - PARKED_AFTER_MS - 1000, NOW),
    ])  # fmt: skip
    assert short["text"] == "online — moving"
    assert long["text"] == "online — parked"
    # a device without a status that stands still is parked by the same rule
    assert text(None, 0.0, NOW, NOW - PARKED_AFTER_MS - 1, NOW) == "online — parked"
    # speed above the still threshold: moving whatever it did before
    assert text(None, 12.0, NOW, NOW - PARKED_AFTER_MS - 1, NOW) == "online — moving"


def test_silent_past_offline_after_a_vehicle_is_offline_before_it_leaves_the_map() -> None:
    offline_ms = MODEL["vehicle_states"]["offline_after_ms"]
    assert 0 < offline_ms <= ACTIVE_S * 1000 / 2  # offline for a while on the map, then gone
    assert text("driving", 40.0, NOW - offline_ms + 1000, None, NOW) == "online — moving"
    assert text("driving", 40.0, NOW - offline_ms - 15_000, None, NOW) == "offline (last seen 1 min ago)"
    # a short active window brings it forward: half of the window
    short = live_model.browser_config(20.0, 900.0)["vehicle_states"]["offline_after_ms"]
    assert short == 10_000


def test_a_long_silent_vehicle_is_offline_with_the_age_of_its_last_report() -> None:
    assert text("driving", 40.0, NOW - 3 * 60_000 - 5000, None, NOW) == "offline (last seen 3 min ago)"
    assert text("parked", 0.0, NOW - 5 * 3600_000, NOW - 6 * 3600_000, NOW) == "offline (last seen 5 h ago)"
    assert text("parked", 0.0, NOW - 3 * 86400_000, None, NOW) == "offline (last seen 3 days ago)"
    # without a time it cannot be online
    assert statuses([("driving", 40.0, None, None, NOW)])[0] == {"state": "offline", "text": "offline"}


def test_a_duty_follows_in_words_and_the_simulators_motion_statuses_do_not() -> None:
    assert text("responding", 60.0, NOW, None, NOW) == "online — moving (responding)"
    assert text("on_scene", 0.0, NOW, NOW - PARKED_AFTER_MS - 1, NOW) == "online — parked (on scene)"
    assert text("at_stop", 0.0, NOW, NOW - 20_000, NOW) == "online — moving"  # a bus at its stop is in service


def test_the_rules_come_from_the_live_model_the_page_carries() -> None:
    rules = MODEL["vehicle_states"]
    assert rules["parked_after_ms"] == int(live_model.VEHICLE_STATES["parked_after_s"] * 1000)
    assert "parked" in rules["parked_statuses"] and rules["still_kmh"] > 0
    source = SCRIPT.read_text(encoding="utf-8")
    assert "180" not in source and "120" not in source  # no window or threshold of its own


def test_the_clusters_threshold_is_declared_once_and_handed_to_the_browser() -> None:
    style = map_tab.map_style()
    assert style["clusters"]["below_zoom"] == map_tab.CLUSTERS["below_zoom"]
    assert set(style["status_colours"]) == {"moving", "parked", "offline"}
    script = (ROOT / "assets" / "smartcity_map.js").read_text(encoding="utf-8")
    assert "below_zoom" in script and "ZOOM = 15" not in script and "CLUSTER_ZOOM" not in script
