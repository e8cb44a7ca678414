"""Console in a real browser: prints one JSON document.

    python -m benchmarks.browser [--vehicles 20000] [--renderer webgl|canvas|canvas-page] [--zoom-out 2]

Starts a real ``redis-server`` and the production server (gunicorn, gevent), puts N vehicles
(default 5,000) in the speed layer and moves every one of them once a second, then opens the
console's Map tab (``/#map``) in headless Chromium (Debian's chromium + chromedriver) with a
cold cache (cleared and disabled through the DevTools protocol) and measures:

- ``renderer`` / ``webgl_renderer``: which point renderer the page drew with ("webgl",
  "canvas-worker": Canvas 2D drawn in a worker on an OffscreenCanvas, or "canvas": on the page's
  thread), and the WebGL renderer this browser has (``SwiftShader`` is software: then the page
  draws with Canvas 2D);
- ``first_map_render_ms``: from navigation start until a frame of the map showed all N
  vehicles, taken in the page itself (a ``requestAnimationFrame`` probe installed before any
  page script runs, reading ``window.smartcityMap``);
- ``main_thread_ms_per_second``: the renderer main thread's busy time per second (Chrome's
  ``TaskDuration`` metric via the DevTools protocol), sampled once a second while the
  vehicles move (inflate, parse, apply, draw, and whatever else the page did that second);
- ``main_thread_ms_per_update``: the same busy time divided by the live updates the map
  applied in that second (a second may hold two: deltas are paced at one a second on
  average, a late one caught up by the next), over the seconds that held any;
- ``zoom`` / ``clustered``: the map's zoom while sampling (the city's, or ``--zoom-out`` steps
  out of it) and whether the vehicles were drawn as bubbles there (``app/console/map.py CLUSTERS``);
- ``long_tasks``: tasks over 50 ms seen by a ``PerformanceObserver`` during the same window;
- ``reference_bare_layer``: the same busy time, in the same run, for a blank page holding only
  the map's point layer (``assets/smartcity_gl.js``, the same renderer as the page: WebGL on a
  GPU, Canvas 2D where WebGL is software; no Leaflet, no network, no Dash)
  with N points moved by id and redrawn once a second: what this machine's Chromium spends on
  the layer alone, so that a run can be compared with one on another day by
  ``per_update_vs_bare_layer``.

The browser, the server and the load generator share this 2-core machine: figures are
indicative, not a contract.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from benchmarks import run
from benchmarks.console import TOKEN, console_server, fleet, percentiles
from pipeline.speed_layer import SpeedLayer

PROBE = """
window.__bench = {firstRender: null, longTasks: [], status: null};
(function () {
  const want = %d;
  function check() {
    const map = window.smartcityMap;
    if (map && map.stats().drawnVehicles >= want) { window.__bench.firstRender = performance.now(); return; }
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
  window.addEventListener("smartcity:status", (e) => { window.__bench.status = e.detail && e.detail.state; });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__bench.longTasks.push({start: e.startTime, ms: e.duration});
    }).observe({type: "longtask", buffered: true});
  } catch (e) { /* no Long Tasks API */ }
})();
"""
ASSET = Path(__file__).resolve().parents[1] / "assets" / "smartcity_gl.js"  # the map's WebGL layer


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


# the map's own layer on a blank page: N points in a box the size of the demo city, each moved
# by id once a second and the layer redrawn, as the map does with the live city
BARE_LAYER = """<!doctype html><html><body style="margin:0">
<canvas id="c" style="width:1400px;height:900px"></canvas>
<script>%s</script>
<script>
const api = window.smartcityGL, n = %d, colours = [[43, 123, 186, 235], [242, 142, 43, 235], [229, 193, 0, 235]];
const kind = "%s" || (api.webglInfo().software ? "canvas" : "webgl");  // as the map chooses
const gl = api.pointRenderer(document.getElementById("c"), kind).points;
const set = new api.PointSet({size: 10, stroke: 0, strokeColour: "#000000"});
const x0 = api.mercX(13.512), y0 = api.mercY(52.455), w = api.mercX(13.549) - x0, h = api.mercY(52.424) - y0;
const scale = Math.min(1400 / w, 900 / h), origin = [x0, y0];
const xs = Float64Array.from({length: n}, () => x0 + Math.random() * w);
const ys = Float64Array.from({length: n}, () => y0 + Math.random() * h);
const ids = Array.from({length: n}, (_, i) => "car-" + i), at = new Float64Array(3);  // as the map keeps them
window.__updates = 0;
function step() {  // each point moves a few metres, by id
  for (let i = 0; i < n; i++) {
    xs[i] += (Math.random() - 0.5) * w * 0.002;
    ys[i] += (Math.random() - 0.5) * h * 0.002;
    at[0] = xs[i]; at[1] = ys[i]; at[2] = NaN;
    set.put(ids[i], at, colours[i %% 3], origin);
  }
  requestAnimationFrame(() => gl.draw([set], {width: 1400, height: 900, scale: scale, shift: [0, 0]}));
  window.__updates += 1;
}
setInterval(step, 1000);
</script></body></html>"""


BREAKDOWN = ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "TaskOtherDuration")
PAGE_STATS = "const s = window.smartcityMap.stats(); return [s.updates, s.applyMs, s.drawMs]"


def busy_per_second(
    driver: webdriver.Chrome, seconds: float, count: str | None = None
) -> tuple[list[float], list[float], list[dict[str, float]]]:
    """The main thread's busy time (ms) in each of ``seconds`` one-second samples; with
    ``count`` (a script returning [updates applied, ms applying, ms drawing] so far), that busy
    time per update over the seconds that held any; and each second's parts (script, layout,
    style, other; the page's apply and draw; its updates), to say what a heavy second held."""
    busy: list[float] = []
    per_update: list[float] = []
    parts: list[dict[str, float]] = []
    last, last_page = metrics(driver), driver.execute_script(count) if count else [0, 0, 0]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(1.0)
        now, page = metrics(driver), driver.execute_script(count) if count else [0, 0, 0]
        ms = (now["TaskDuration"] - last["TaskDuration"]) * 1000
        busy.append(ms)
        updates = page[0] - last_page[0]
        if updates > 0:
            per_update.append(ms / updates)
        part = {k.removesuffix("Duration").lower() + "_ms": round((now[k] - last[k]) * 1000, 1) for k in BREAKDOWN}
        part.update(busy_ms=round(ms, 1), updates=updates, apply_ms=round(page[1] - last_page[1], 1),
                    draw_ms=round(page[2] - last_page[2], 1),
                    heap_mb=round(now["JSHeapUsedSize"] / 1e6, 1))  # fmt: skip
        parts.append(part)
        last, last_page = now, page
    return busy, per_update, parts


def bare_layer(vehicles: int, seconds: float, renderer: str = "") -> list[float]:
    """Main-thread busy ms per second of the map's point layer alone (``renderer``: "webgl",
    "canvas", or "" for the one the page would choose), moving ``vehicles`` points."""
    page = BARE_LAYER % (ASSET.read_text(), vehicles, renderer)
    driver = chrome()
    try:
        driver.execute_cdp_cmd("Performance.enable", {})
        driver.get("data:text/html;charset=utf-8," + urllib.parse.quote(page))
        time.sleep(2)
        busy = busy_per_second(driver, seconds)[0]
        if not driver.execute_script("return window.__updates"):
            raise SystemExit("the bare layer page drew nothing (no WebGL?)")
        return busy
    finally:
        driver.quit()


def metrics(driver: webdriver.Chrome) -> dict[str, float]:
    """Chrome's page metrics (seconds of each kind of main-thread work so far, heap size…)."""
    return {m["name"]: float(m["value"]) for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}


def mover(speed: SpeedLayer, vehicles: int, stop: threading.Event) -> None:
    step = 1
    while not stop.is_set():
        tick = time.monotonic()
        speed.write(fleet(vehicles, datetime.now(UTC), step))
        step += 1
        stop.wait(max(0.0, 1.0 - (time.monotonic() - tick)))


def measure(base: str, vehicles: int, seconds: float, renderer: str = "", zoom_out: int = 0) -> dict[str, Any]:
    driver = chrome()
    try:
        driver.execute_cdp_cmd("Performance.enable", {})
        driver.get(f"{base}/login?token={TOKEN}")  # a session cookie; the page loads below, fresh
        # a cold cache: nothing the login page fetched (the stylesheet) is reused
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE % vehicles})
        driver.get(f"{base}/?bench=1{'&renderer=' + renderer if renderer else ''}#map")
        deadline = time.monotonic() + 60
        first = None
        while time.monotonic() < deadline and first is None:
            first = driver.execute_script("return window.__bench.firstRender")
            time.sleep(0.1)
        if first is None:
            raise SystemExit(f"the map never showed {vehicles} vehicles within 60 s")
        if zoom_out:  # the view an operator gets with the zoom control's "-" (clustered below a zoom)
            driver.execute_script(
                "const m = window.smartcityMap.leafletMap(); m.setZoom(m.getZoom() - arguments[0], {animate: false})",
                zoom_out,
            )
        time.sleep(3)  # let the first deltas arrive before sampling
        window_start = driver.execute_script("return performance.now()")
        busy, per_update, parts = busy_per_second(driver, seconds, PAGE_STATS)
        long_tasks = [t for t in driver.execute_script("return window.__bench.longTasks") if t["start"] >= window_start]
        state = driver.execute_script("return window.__bench.status")
        stats = driver.execute_script("return window.smartcityMap.stats()")
        return {
            "first_map_render_ms": round(first),
            # what the first render waited for: the map mounted, the first live message applied
            "first_render_parts_ms": {
                "map_mounted": round(stats["mapAt"] or 0),
                "first_live_message": round(stats["firstLiveAt"] or 0),
            },
            "main_thread_ms_per_second": percentiles(busy),
            "main_thread_ms_per_update": percentiles(per_update),
            # the three heaviest seconds, and what they held
            "heaviest_seconds": sorted(parts, key=lambda p: -p["busy_ms"])[:3],
            "median_second": sorted(parts, key=lambda p: p["busy_ms"])[len(parts) // 2] if parts else None,
            "long_tasks": {"count": len(long_tasks), "max_ms": max((t["ms"] for t in long_tasks), default=0)},
            "live_state": state,
            "zoom": driver.execute_script("return window.smartcityMap.leafletMap().getZoom()"),
            "clustered": driver.execute_script("return window.smartcityMap.clustered()"),
            "vehicles_on_map": stats["drawnVehicles"],
            "renderer": stats["renderer"],
            "webgl_renderer": stats["gpu"],
        }
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.browser", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=60.0)  # p95 of 20 samples would be their maximum
    p.add_argument(
        "--renderer",
        choices=("webgl", "canvas", "canvas-page"),
        default="",
        help="the map's point renderer (default: the one the page picks: Canvas 2D where WebGL is software, "
        "in a worker where the browser can; canvas-page: Canvas 2D on the page's thread)",
    )
    p.add_argument("--zoom-out", type=int, default=0, help="zoom steps out of the city's view before sampling")
    args = p.parse_args(argv)
    from benchmarks.pipeline import machine

    with console_server(args.vehicles, tile_url="") as (speed, server):
        port = server.port
        stop = threading.Event()
        moving = threading.Thread(target=mover, args=(speed, args.vehicles, stop), daemon=True)
        moving.start()
        try:
            browser = measure(f"http://127.0.0.1:{port}", args.vehicles, args.seconds, args.renderer, args.zoom_out)
        finally:
            stop.set()
            moving.join(5)
    asked = {"webgl": "webgl", "canvas-worker": "canvas", "canvas": "canvas-page"}[browser["renderer"]]
    reference = percentiles(bare_layer(args.vehicles, min(args.seconds, 20.0), asked))
    per_update, bare = browser["main_thread_ms_per_update"]["p50_ms"], reference["p50_ms"]
    result = {
        "benchmark": "browser",
        "machine": machine(),
        "browser": "headless Chromium (Debian), map tab, tiles off (roads drawn as vectors), cold cache",
        "vehicles_moving_per_s": args.vehicles,
        **browser,
        "reference_bare_layer": reference,
        "per_update_vs_bare_layer": round(per_update / bare, 2) if per_update and bare else None,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    run(main)
