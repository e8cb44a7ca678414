"""Console in a real browser: prints one JSON document.

    python -m benchmarks.browser

Starts a real ``redis-server`` and the production server (gunicorn, gevent), puts N vehicles
(default 5,000) in the speed layer and moves every one of them once a second, then opens the
console's Map tab (``/#map``) in headless Chromium (Debian's chromium + chromedriver) and
measures:

- ``first_map_render_ms``: from navigation start until all N vehicle markers are on the
  map, taken in the page itself (a ``requestAnimationFrame`` probe installed before any
  page script runs);
- ``main_thread_ms_per_second``: the renderer main thread's busy time per second (Chrome's
  ``TaskDuration`` metric via the DevTools protocol), sampled once a second while the
  vehicles move (parse, apply, canvas redraw, and whatever else the page did that second);
- ``main_thread_ms_per_update``: the same busy time divided by the push messages the page
  applied in that second (a second may hold two: deltas are paced at one a second on
  average, a late one caught up by the next), over the seconds that held any;
- ``long_tasks``: tasks over 50 ms seen by a ``PerformanceObserver`` during the same window;
- ``reference_bare_canvas``: the same busy time for a bare page that only draws N filled
  circles (as the map draws vehicles) on a canvas of the same size once a second (no network, no parsing, no
  Leaflet): what this machine's Chromium spends on the drawing alone, so that a run can be
  compared with one on another day by ``per_update_vs_bare_canvas``; and
  ``reference_bare_canvas_stroked``, the same circles also stroked (as the map drew vehicles
  before: why it no longer does).

The browser, the server and the load generator share this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
import urllib.parse
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


BARE_CANVAS = """<!doctype html><html><body style="margin:0">
<canvas id="c" width="1400" height="900"></canvas>
<script>
const ctx = document.getElementById("c").getContext("2d"), n = %d, colours = ["#1f77b4", "#ff7f0e", "#2ca02c"];
function draw() {
  ctx.clearRect(0, 0, 1400, 900);
  for (let i = 0; i < n; i++) {
    ctx.beginPath();
    ctx.arc(Math.random() * 1400, Math.random() * 900, 5, 0, 2 * Math.PI);
    ctx.fillStyle = colours[i %% 3]; ctx.globalAlpha = 0.9; ctx.fill();  // as the map draws vehicles
  }
}
setInterval(() => requestAnimationFrame(draw), 1000);
</script></body></html>"""


def busy_per_second(
    driver: webdriver.Chrome, seconds: float, count: str | None = None
) -> tuple[list[float], list[float]]:
    """The main thread's busy time (ms) in each of ``seconds`` one-second samples; and, with
    ``count`` (a script returning how many updates the page applied so far), that busy time
    per update over the seconds that held any."""
    busy: list[float] = []
    per_update: list[float] = []
    last, last_n = task_seconds(driver), driver.execute_script(count) if count else 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(1.0)
        now, n = task_seconds(driver), driver.execute_script(count) if count else 0
        busy.append((now - last) * 1000)
        if n > last_n:
            per_update.append((now - last) * 1000 / (n - last_n))
        last, last_n = now, n
    return busy, per_update


STROKE = 'ctx.globalAlpha = 1; ctx.lineWidth = 1; ctx.strokeStyle = "#222"; ctx.stroke();'


def bare_canvas(vehicles: int, seconds: float, stroked: bool = False) -> list[float]:
    page = BARE_CANVAS % vehicles
    if stroked:
        page = page.replace("// as the map draws vehicles", STROKE)
    driver = chrome()
    try:
        driver.execute_cdp_cmd("Performance.enable", {})
        driver.get("data:text/html;charset=utf-8," + urllib.parse.quote(page))
        time.sleep(2)
        return busy_per_second(driver, seconds)[0]
    finally:
        driver.quit()


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
        busy, per_update = busy_per_second(driver, seconds, "return window.dash_clientside.smartcity.live.messages")
        long_tasks = [t for t in driver.execute_script("return window.__bench.longTasks") if t["start"] >= window_start]
        state = driver.execute_script("return window.dash_clientside.smartcity.live.state")
        shown = driver.execute_script(
            "const m = window.dash_clientside.smartcity.markers; return Object.values(m).filter((x) => x._map).length"
        )
        return {
            "first_map_render_ms": round(first),
            "main_thread_ms_per_second": percentiles(busy),
            "main_thread_ms_per_update": percentiles(per_update),
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
    reference = percentiles(bare_canvas(args.vehicles, min(args.seconds, 20.0)))
    per_update, bare = browser["main_thread_ms_per_update"]["p50_ms"], reference["p50_ms"]
    result = {
        "benchmark": "browser",
        "machine": machine(),
        "browser": "headless Chromium (Debian), map tab, tiles off (roads drawn as vectors)",
        "vehicles_moving_per_s": args.vehicles,
        **browser,
        "reference_bare_canvas": reference,
        "per_update_vs_bare_canvas": round(per_update / bare, 2) if per_update and bare else None,
        "reference_bare_canvas_stroked": percentiles(bare_canvas(args.vehicles, min(args.seconds, 20.0), True)),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
