"""Console in a real browser: prints one JSON document.

    python -m benchmarks.browser

Starts a real ``redis-server`` and the production server (gunicorn, gevent), puts N vehicles
(default 5,000) in the speed layer and moves every one of them once a second, then opens the
console's Map tab (``/#map``) in headless Chromium (Debian's chromium + chromedriver) and
measures:

- ``first_map_render_ms``: from navigation start until all N vehicle markers are on the
  map, taken in the page itself (a ``requestAnimationFrame`` probe installed before any
  page script runs);
- ``main_thread_ms_per_update``: the renderer main thread's busy time per second (Chrome's
  ``TaskDuration`` metric via the DevTools protocol), sampled once a second while the
  vehicles move: with one push a second, that is the cost of one update (parse, apply,
  canvas redraw, and whatever else the page did that second);
- ``long_tasks``: tasks over 50 ms seen by a ``PerformanceObserver`` during the same window.

The browser, the server and the load generator share this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from benchmarks.console import TOKEN, console_server, fleet, percentiles
from pipeline.speed_layer import SpeedLayer

PROBE = """
window.__bench = {firstRender: null, longTasks: []};
(function () {
  const want = %d;
  function check() {
    const ns = window.dash_clientside && window.dash_clientside.smartcity;
    if (ns && ns.markers) {
      let n = 0;
      for (const id in ns.markers) if (ns.markers[id]._map) n++;
      if (n >= want) { window.__bench.firstRender = performance.now(); return; }
    }
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__bench.longTasks.push({start: e.startTime, ms: e.duration});
    }).observe({type: "longtask", buffered: true});
  } catch (e) { /* no Long Tasks API */ }
})();
"""


def chrome() -> webdriver.Chrome:
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,900"):  # fmt: skip
        options.add_argument(arg)
    binary = shutil.which("chromium") or shutil.which("google-chrome")
    if binary:
        options.binary_location = binary
    driver_path = shutil.which("chromedriver")
    if not (binary and driver_path):
        raise SystemExit("needs chromium and chromedriver (scripts/system-packages.sh installs them)")
    return webdriver.Chrome(service=Service(driver_path), options=options)


def task_seconds(driver: webdriver.Chrome) -> float:
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def mover(speed: SpeedLayer, vehicles: int, stop: threading.Event) -> None:
    step = 1
    while not stop.is_set():
        tick = time.monotonic()
        speed.write(fleet(vehicles, datetime.now(UTC), step))
        step += 1
        stop.wait(max(0.0, 1.0 - (time.monotonic() - tick)))


def measure(base: str, vehicles: int, seconds: float) -> dict[str, Any]:
    driver = chrome()
    try:
        driver.execute_cdp_cmd("Performance.enable", {})
        driver.get(f"{base}/login?token={TOKEN}")  # a session cookie; the page loads below, fresh
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE % vehicles})
        driver.get(f"{base}/?bench=1#map")
        deadline = time.monotonic() + 60
        first = None
        while time.monotonic() < deadline and first is None:
            first = driver.execute_script("return window.__bench.firstRender")
            time.sleep(0.1)
        if first is None:
            raise SystemExit(f"the map never showed {vehicles} vehicles within 60 s")
        time.sleep(3)  # let the first deltas arrive before sampling
        window_start = driver.execute_script("return performance.now()")
        busy: list[float] = []
        last = task_seconds(driver)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(1.0)
            now = task_seconds(driver)
            busy.append((now - last) * 1000)
            last = now
        long_tasks = [t for t in driver.execute_script("return window.__bench.longTasks") if t["start"] >= window_start]
        state = driver.execute_script("return window.dash_clientside.smartcity.live.state")
        shown = driver.execute_script(
            "const m = window.dash_clientside.smartcity.markers; return Object.values(m).filter((x) => x._map).length"
        )
        return {
            "first_map_render_ms": round(first),
            "main_thread_ms_per_update": percentiles(busy),
            "long_tasks": {"count": len(long_tasks), "max_ms": max((t["ms"] for t in long_tasks), default=0)},
            "push_state": state,
            "markers_on_map": shown,
        }
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.browser", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=60.0)  # p95 of 20 samples would be their maximum
    args = p.parse_args(argv)
    from benchmarks.pipeline import machine

    with console_server(args.vehicles, tile_url="") as (speed, server):
        port = server.port
        stop = threading.Event()
        moving = threading.Thread(target=mover, args=(speed, args.vehicles, stop), daemon=True)
        moving.start()
        try:
            browser = measure(f"http://127.0.0.1:{port}", args.vehicles, args.seconds)
        finally:
            stop.set()
            moving.join(5)
    result = {
        "benchmark": "browser",
        "machine": machine(),
        "browser": "headless Chromium (Debian), map tab, tiles off (roads drawn as vectors)",
        "vehicles_moving_per_s": args.vehicles,
        **browser,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
