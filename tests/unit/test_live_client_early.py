"""The live client loads above the page's other scripts (``app/console/__init__.py``): it opens
the socket at once, and its events wait until the document is parsed, so no listener the later
scripts register misses the first message. The page's order, and the client under Node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from pipeline import live_model

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "assets" / "smartcity_live.js"

# A page still being parsed: the live client runs, a socket opens, the snapshot arrives; a script
# below it registers its listener; then the document is parsed.
RUNNER = """
const vm = require("vm"), fs = require("fs");
const [path, config, snapshot] = JSON.parse(process.argv[1]);
const listeners = {}, log = [], sockets = [];
const window = {
    addEventListener: (name, fn) => { (listeners[name] = listeners[name] || []).push(fn); },
    dispatchEvent: (e) => { (listeners[e.type] || []).forEach((fn) => fn(e)); return true; },
};
const docListeners = {};
const document = {
    readyState: "loading",
    getElementById: (id) => (id === "smartcity-live-model" ? {textContent: config} : null),
    addEventListener: (name, fn) => { (docListeners[name] = docListeners[name] || []).push(fn); },
    querySelectorAll: () => [],
};
class WebSocket { constructor(url) { this.url = url; sockets.push(this); } close() {} }
class CustomEvent { constructor(type, init) { this.type = type; this.detail = init && init.detail; } }
const context = vm.createContext({window, document, WebSocket, CustomEvent, console, setTimeout, clearTimeout,
                                  setInterval: () => 0, location: {protocol: "http:", host: "console"},
                                  performance: {now: () => 0}, Date, Map, Set, Promise, JSON, Math});
vm.runInContext(fs.readFileSync(path, "utf8"), context);
log.push(["sockets at load", sockets.length]);
sockets[0].onmessage({data: snapshot});
setTimeout(() => {
    log.push(["vehicles while parsing", window.smartcityLive.city.vehicles.size]);
    // a script below the live client, run after the message arrived
    window.addEventListener("smartcity:live",
                            (e) => log.push(["live", e.detail.snapshot, e.detail.city.vehicles.size]));
    window.addEventListener("smartcity:status", (e) => log.push(["status", e.detail.state]));
    log.push(["parsed"]);
    document.readyState = "interactive";
    (docListeners.DOMContentLoaded || []).forEach((fn) => fn());
    setTimeout(() => console.log(JSON.stringify(log)), 10);
}, 20);
"""


def run_client() -> list[list[Any]]:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        if os.environ.get("CI"):  # scripts/system-packages.sh installs it
            pytest.fail("node missing: scripts/system-packages.sh should have installed it")
        pytest.skip("needs node (scripts/system-packages.sh installs it)")
    model = live_model.browser_config(120.0, 900.0)
    now = 1_800_000_000_000
    row: list[Any] = [None] * len(model["vehicle_fields"])
    row[0], row[1] = "car-1", now
    for field, value in (("lat", 52.5), ("lon", 13.4)):
        if field in model["vehicle_fields"]:
            row[model["vehicle_fields"].index(field)] = value
    snapshot = {"type": "snapshot", "event_ms": now, "oldest_ms": now, "ts": now,
                "vehicle_fields": model["vehicle_fields"], "vehicles": [row],
                "incidents": [], "traffic": [], "weather": [], "summary": {}}  # fmt: skip
    out = subprocess.run(
        [node, "-e", RUNNER, json.dumps([str(SCRIPT), json.dumps(model), json.dumps(snapshot)])],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    result: list[list[Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_first_message_waits_for_the_documents_other_scripts_and_reaches_them_in_order() -> None:
    log = run_client()
    assert log[0] == ["sockets at load", 1]  # connected while the page was still loading
    assert log[1] == ["vehicles while parsing", 1]  # the snapshot read meanwhile
    parsed = log.index(["parsed"])
    after = log[parsed + 1 :]
    assert ["live", True, 1] in after  # the listener registered later still got the snapshot
    assert next(entry[0] for entry in after if entry[0] in ("live", "status")) == "status"  # in the order emitted
    assert not any(entry[0] == "live" for entry in log[:parsed])


def test_the_page_loads_the_live_client_once_below_its_model_and_above_dashs_scripts(app: Flask) -> None:
    c = app.test_client()
    c.get("/login?token=viewer-token")
    page = c.get("/").get_data(as_text=True)
    assert page.count("/assets/smartcity_live.js") == 1
    client = page.index("/assets/smartcity_live.js")
    assert page.index('id="smartcity-live-model"') < client < page.index("/_dash-component-suites/")
    src = page[client : page.index('"', client)]
    served = c.get(src)
    assert served.status_code == 200 and served.get_data() == SCRIPT.read_bytes()
