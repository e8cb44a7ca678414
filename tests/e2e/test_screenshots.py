"""The screenshot pass: every tab at 1440×900 and 390×844, light and dark, over a seeded city (a
speed layer of the city now, a lake of its last hours). Tabs and the theme are switched with the
real mouse; each view is saved as a PNG (``$SMARTCITY_ARTEFACTS/screenshots``, else
``artefacts/screenshots`` in the repository) and its geometry is read from the page:

- no text is cut off (labels, headers, cells, buttons) unless it ends in an ellipsis with the
  whole text in a ``title``;
- no two controls overlap, and none lies outside the window sideways (a phone scrolls down only);
- every Plotly chart's axes are titled and its tick labels lie inside the chart;
- at 1440 px every column of every table is in view;
- on a phone, the navbar and the tabs leave most of the screen to the tab.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from base64 import b64decode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dash
import fakeredis
import pytest
import selenium
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from app import create_app
from app.console import ids
from app.console import map as map_tab
from app.console.layout import TABS
from app.store import Store
from pipeline.lake import LakeWriter, open_lake
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Validator
from producers.simulation import CitySimulation, SimulationConfig
from tests.city import api_settings, rec, seed

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
PHONE_CHROME_MAX_PX = 844 // 5  # navbar + tabs: at most a fifth of a phone's screen
LONG = ("Lorry overturned across both lanes at the junction; diesel on the road, two cars behind it "
        "damaged, crews on the way, the road closed in both directions until further notice")  # fmt: skip

# what each tab shows once it has drawn the seeded city (a JS expression)
READY = {
    ids.TAB_OVERVIEW: "document.querySelectorAll('#overview-trend-vehicles .scatterlayer .trace').length > 0",
    ids.TAB_MAP: "window.smartcityMap && window.smartcityMap.count('vehicles') > 0",
    ids.TAB_EMERGENCY: "document.querySelectorAll('#emergency-table .ag-center-cols-container .ag-row').length >= 2",
    ids.TAB_TRAFFIC: "document.querySelectorAll('#traffic-table .ag-center-cols-container .ag-row').length > 10"
    " && document.querySelectorAll('#traffic-congestion .scatterlayer .trace').length > 0"
    " && document.querySelectorAll('#traffic-worst .barlayer .point').length > 0",
    ids.TAB_WEATHER: "document.getElementById('weather-table').innerText.includes('ws-')"
    " && document.querySelectorAll('#weather-temperature .scatterlayer .trace').length > 0"
    " && document.querySelectorAll('#weather-chart .barlayer .point').length > 0",
    ids.TAB_HISTORY: "document.querySelectorAll('#history-traffic .heatmaplayer').length > 0"
    " && document.querySelectorAll('#history-weather .scatterlayer .trace').length > 0"
    " && document.querySelectorAll('#history-fleet .barlayer .point').length > 0",
    ids.TAB_SYSTEM: "document.getElementById('system-status').innerText.trim().length > 0",
}

# The page's geometry, read in the browser: a list of what is wrong, in words.
GEOMETRY = r"""
const phone = arguments[0], W = window.innerWidth, out = [];
const shown = (el) => {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && el.checkVisibility({opacityProperty: true, visibilityProperty: true});
};
const name = (el) => {
  const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().replace(/\s+/g, ' ');
  return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' + text.slice(0, 40) + '"';
};
// two boxes share more than a pixel each way
const meets = (p, q) => Math.min(p.right, q.right) - Math.max(p.left, q.left) > 1
  && Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top) > 1;
const span = (r, box) => 'x ' + Math.round(r.left - box.left) + '..' + Math.round(r.right - box.left)
  + ', y ' + Math.round(r.top - box.top) + '..' + Math.round(r.bottom - box.top);
// 1. text cut off (or spilling out of its box)
const TEXT = 'label, th, td, h1, h2, h3, h4, h5, h6, .btn, .nav-link, .badge, .navbar-brand, .input-group-text,'
  + ' .ag-header-cell-text, .ag-cell, .card-title, .alert, .form-check-label';
for (const el of document.querySelectorAll(TEXT)) {
  if (!shown(el) || el.closest('.visually-hidden') || !el.innerText.trim()) continue;
  if (el.scrollWidth <= el.clientWidth + 1) continue;
  const titled = el.closest('[title]') || el.querySelector('[title]');
  const ellipsis = getComputedStyle(el).textOverflow === 'ellipsis'
    || [...el.querySelectorAll('*')].some((c) => getComputedStyle(c).textOverflow === 'ellipsis');
  if (ellipsis && titled && titled.title.trim() === el.innerText.trim()) continue;
  out.push('cut off: ' + name(el) + ' needs ' + el.scrollWidth + ' px, has ' + el.clientWidth);
}
// a header wraps between its words, never inside one
for (const el of document.querySelectorAll('.ag-header-cell-text')) {
  const node = el.firstChild;
  if (!shown(el) || !node || node.nodeType !== Node.TEXT_NODE) continue;
  const text = node.textContent;
  let from = 0;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const at = text.indexOf(word, from), range = document.createRange();
    from = at + word.length;
    range.setStart(node, at);
    range.setEnd(node, from);
    if (new Set([...range.getClientRects()].map((q) => Math.round(q.top))).size > 1) {
      out.push('a word broken across lines: ' + name(el) + ' "' + word + '"');
    }
  }
}
// 2. controls: none outside the window sideways, no two overlapping
const CONTROLS = 'a[href], button, input:not([type=hidden]), select, textarea, [role=button], .form-check-label,'
  + ' .ag-paging-button';
const controls = [...document.querySelectorAll(CONTROLS)]
  .filter((el) => shown(el) && getComputedStyle(el).pointerEvents !== 'none' && !el.closest('.visually-hidden'));
for (const el of controls) {
  const r = el.getBoundingClientRect();
  if (r.left < -1 || r.right > W + 1) out.push('outside the window: ' + name(el) + ' at x ' + Math.round(r.left)
    + '..' + Math.round(r.right) + ' of ' + W);
}
for (let i = 0; i < controls.length; i++) {
  for (let j = i + 1; j < controls.length; j++) {
    const a = controls[i], b = controls[j];
    if (a.contains(b) || b.contains(a) || !meets(a.getBoundingClientRect(), b.getBoundingClientRect())) continue;
    out.push('overlap: ' + name(a) + ' and ' + name(b));
  }
}
if (document.documentElement.scrollWidth > W + 1) {
  out.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px wide in a ' + W + ' px window');
}
// 3. Plotly charts: titled axes, tick labels inside the chart
for (const gd of document.querySelectorAll('.js-plotly-plot')) {
  if (!shown(gd) || !gd._fullLayout) continue;
  const chart = '#' + (gd.closest('[id]') || gd).id;
  const fl = gd._fullLayout;
  for (const key of Object.keys(fl).filter((k) => /^[xy]axis\d*$/.test(k))) {
    const ax = fl[key];
    if (!ax || !ax.visible) continue;
    // the title drawn (the full layout holds a placeholder for an untitled axis, never drawn)
    const drawn = gd.querySelector('.g-' + ax._id + 'title text');
    if (!drawn || !drawn.textContent.trim()) out.push('untitled axis: ' + chart + ' ' + key);
  }
  const box = gd.querySelector('.main-svg').getBoundingClientRect(), plot = fl._size;
  if (gd.data && gd.data.length && (plot.h < 0.4 * box.height || plot.w < 0.4 * box.width)) {
    out.push('squashed: ' + chart + ' plots in ' + Math.round(plot.w) + 'x' + Math.round(plot.h) + ' px of '
      + Math.round(box.width) + 'x' + Math.round(box.height));
  }
  const TICKS = '.xaxislayer-above text, .yaxislayer-above text, .cbaxis text, [class^="g-"][class$="title"] text,'
    + ' .gtitle, .legendtext, .bartext';
  for (const t of gd.querySelectorAll(TICKS)) {
    const r = t.getBoundingClientRect();
    if (!r.width || !t.textContent.trim()) continue;
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
      out.push('outside its chart: ' + chart + ' "' + t.textContent.slice(0, 40) + '" at ' + span(r, box)
        + ' of ' + Math.round(box.width) + 'x' + Math.round(box.height));
    }
  }
  // no axis title or legend over another text of the chart
  const rect = (el) => el.getBoundingClientRect();
  const texts = (selector) => [...gd.querySelectorAll(selector)].filter((t) => t.textContent.trim());
  const titles = texts('[class^="g-"][class$="title"] text, .gtitle');
  const legends = [...gd.querySelectorAll('.legend > .bg')];
  const ticks = texts('.xaxislayer-above text, .yaxislayer-above text');
  const seen = new Set();
  for (const a of [...titles, ...legends]) {
    for (const b of [...titles, ...legends, ...ticks]) {
      if (a === b || a.contains(b) || b.contains(a) || !meets(rect(a), rect(b))) continue;
      const what = (el) => el.classList.contains('bg') ? 'the legend' : '"' + el.textContent.slice(0, 30) + '"';
      const words = 'overlap in ' + chart + ': ' + what(a) + ' and ' + what(b);
      if (!seen.has(words)) { seen.add(words); out.push(words); }
    }
  }
}
// 4. tables: every column in view at desktop width
if (!phone) {
  for (const root of document.querySelectorAll('.ag-root-wrapper')) {
    if (!shown(root)) continue;
    const grid = '#' + (root.closest('[id]') || root).id, box = root.getBoundingClientRect();
    const scroller = root.querySelector('.ag-body-horizontal-scroll-viewport');
    if (scroller && scroller.scrollWidth > scroller.clientWidth + 1) out.push('columns out of view: ' + grid);
    for (const h of root.querySelectorAll('.ag-header-cell')) {
      const r = h.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1)) {
        out.push('column out of view: ' + grid + ' ' + name(h));
      }
    }
  }
}
// 5. a phone's screen is for the tab
if (phone) {
  const bottom = document.querySelector('.nav-tabs').getBoundingClientRect().bottom + window.scrollY;
  if (bottom > arguments[1]) out.push('navbar and tabs take ' + Math.round(bottom) + ' px of ' + window.innerHeight);
}
return out;
"""


# The long description of an active incident: in the window, whole.
DESCRIPTION = """
const cell = [...document.querySelectorAll('#emergency-table .ag-cell[col-id="description"]')]
  .find((c) => c.innerText.includes('overturned'));
if (!cell) return ['the description of an incident is out of view'];
const r = cell.getBoundingClientRect(), out = [];
if (r.left < -1 || r.right > window.innerWidth + 1) {
  out.push('the description runs out of the window: x ' + Math.round(r.left) + '..' + Math.round(r.right));
}
if (cell.scrollHeight > cell.clientHeight + 1 || cell.innerText.trim().length < 150) {
  out.push('the description is cut off');
}
return out;
"""
# The map's tooltip: inside the map, each of its lines on one line.
TOOLTIP = """
const tip = document.querySelector('.smartcity-tip');
if (!tip || tip.hidden) return ['no tooltip under the mouse'];
const out = [], box = tip.parentNode.getBoundingClientRect(), r = tip.getBoundingClientRect();
if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
  out.push('the tooltip runs out of the map');
}
const range = document.createRange();
range.selectNodeContents(tip);
const shown = new Set([...range.getClientRects()].map((l) => Math.round(l.top))).size;
const lines = tip.textContent.split('\\n').length;
if (shown > lines) {
  out.push('the tooltip wraps its ' + lines + ' lines into ' + shown + ' (' + Math.round(r.width) + ' px wide)');
}
return out;
"""


def artefacts() -> Path:
    """Where the screenshots go: ``$SMARTCITY_ARTEFACTS/screenshots``, else ``artefacts/screenshots``."""
    base = Path(os.environ["SMARTCITY_ARTEFACTS"]) if os.environ.get("SMARTCITY_ARTEFACTS") else ROOT / "artefacts"
    folder = base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def city_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, dict[str, Any]]]]:
    """A lake of the last 3 hours of a 40-vehicle city (every 30 s) and the city's newest reports."""
    folder = tmp_path_factory.mktemp("shots")
    now = datetime.now(UTC)
    sim = CitySimulation(SimulationConfig(vehicles=40, start=now - timedelta(hours=3)))
    validator = Validator()
    writer = LakeWriter(*open_lake(str(folder / "lake")))  # the app's lake (api_settings)
    latest: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for _ in range(int(3 * 3600 / 30)):
        by_stream: dict[str, list[dict[str, Any]]] = {}
        for stream, _, event in sim.step(30.0):
            record = validator.validate(stream, event, now=now + timedelta(minutes=5))
            assert isinstance(record, dict)
            by_stream.setdefault(stream, []).append(record)
            latest[(stream, str(record.get("device_id")))] = (stream, record)
        for stream, records in by_stream.items():
            writer.add(stream, records)
    writer.flush()
    newest = [(s, r) for s, r in latest.values() if s != "emergency_data"]
    return folder, newest


@dataclass
class City:
    app: dash.Dash
    speed: SpeedLayer
    centre: tuple[float, float]  # the map's centre as the page opens, and its zoom
    zoom: float

    def at(self, dx: float, dy: float) -> tuple[float, float]:
        """Latitude and longitude ``dx``, ``dy`` px from the centre of the map as the page opens."""
        lat, lon = self.centre
        per_degree = 256 * 2**self.zoom / 360
        return lat - dy / (per_degree / math.cos(math.radians(lat))), lon + dx / per_degree


@pytest.fixture
def city(city_lake: tuple[Path, list[tuple[str, dict[str, Any]]]]) -> City:
    """The console over the lake's city: its newest reports in the speed layer as the city now,
    the small city of the other tests and an incident with a long description."""
    folder, newest = city_lake
    speed = SpeedLayer(fakeredis.FakeRedis(), "e2e-shots:")
    seed(speed)
    at = datetime.now(UTC) - timedelta(seconds=3)  # the lake's newest reports, as the city is now
    speed.write([(s, {**r, "event_time": at, "ingest_time": at}) for s, r in newest])
    speed.write(
        [
            rec("emergency_data", 40, device_id="u7", incidentId="i-long", incident_type="accident", status="Active",
                location=[52.4335, 13.5301], severity="critical", description=LONG),
        ]
    )  # fmt: skip
    server = create_app(api_settings(folder, tile_url=""), store=Store(speed))  # tile_url "": no network
    with server.test_request_context("/"):
        centre, zoom = map_tab.bbox_centre(map_tab.network()), map_tab.fit_zoom(map_tab.network())
    return City(server.extensions["smartcity.console"], speed, centre, zoom)


def mouse_click(driver: Any, element: Any) -> None:
    """Scroll ``element`` into view, then press it with the real mouse where it is on screen."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});", element)
    ActionChains(driver).move_to_element(element).pause(0.1).click().perform()


def mouse_on_map(driver: Any, x: float, y: float) -> None:
    """The real mouse moves to the container point (x, y) of the live map."""
    container = driver.find_element(By.CSS_SELECTOR, ".smartcity-map")
    x, y = round(x), round(y)
    if tuple(int(p) for p in selenium.__version__.split(".")[:2]) >= (4, 3):  # offsets from the centre
        x, y = x - round(container.rect["width"] / 2), y - round(container.rect["height"] / 2)
    with warnings.catch_warnings():  # selenium 4.2 warns that 4.3 measures from the centre
        warnings.simplefilter("ignore", DeprecationWarning)
        ActionChains(driver).move_to_element_with_offset(container, x, y).perform()


def hover_a_vehicle_at_the_right_edge(dash_duo: Any, city: City) -> list[str]:
    """A vehicle reports from 24 px inside the map's right edge (where its tooltip has least room);
    the mouse hovers it: what is wrong with its tooltip."""
    driver = dash_duo.driver
    driver.execute_script("document.querySelector('.smartcity-map').scrollIntoView({block: 'nearest'})")
    width = driver.find_element(By.CSS_SELECTOR, ".smartcity-map").rect["width"]
    lat, lon = city.at(width / 2 - 24, 0)
    city.speed.write([rec("vehicle_data", 0, device_id="edge-1", location=[lat, lon], speed=12.0, vehicle_type="car",
                     road_name="Richard-Willstätter-Straße")])  # fmt: skip
    where = "return window.smartcityMap.screenPoint('vehicles', 'edge-1')"
    dash_duo._wait_for(lambda d: d.execute_script(where) is not None, timeout=10, msg="edge-1 on the map")
    point = driver.execute_script(where)
    mouse_on_map(driver, point["x"], point["y"])
    tip = "const t = document.querySelector('.smartcity-tip'); return !!t && !t.hidden && t.dataset.id === 'edge-1'"
    dash_duo._wait_for(lambda d: d.execute_script(tip), timeout=5, msg="a tooltip over edge-1")
    return list(driver.execute_script(TOOLTIP))


def save_png(driver: Any, path: Path) -> None:
    """The whole page (not only the window) as a PNG."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return window.innerWidth")
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True,
         "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
    )  # fmt: skip
    path.write_bytes(b64decode(shot["data"]))


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
def test_every_tab_is_whole_and_labelled(dash_duo: Any, city: City, size: str, theme: str) -> None:
    width, height = SIZES[size]
    driver = dash_duo.driver
    dash_duo.start_server(city.app, navigate=False)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    driver.get(f"{dash_duo.server.url}/login?token=admin-token")  # every control: acting and admin ones
    driver.get(f"{dash_duo.server.url}/?fresh=1#overview")
    dash_duo.wait_for_contains_text("#shell-badge", "live", timeout=15)
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [width, height]
    if theme == "dark":
        mouse_click(driver, driver.find_element(By.XPATH, "//label[normalize-space()='Dark']"))
        dash_duo._wait_for(
            lambda d: d.execute_script("return document.documentElement.getAttribute('data-bs-theme')") == "dark",
            timeout=5, msg="dark theme",
        )  # fmt: skip
    folder = artefacts()
    problems: list[str] = []
    for tab_id, label, _ in TABS:
        link = driver.find_element(By.XPATH, f"//ul[contains(@class, 'nav-tabs')]//a[normalize-space()='{label}']")
        mouse_click(driver, link)
        dash_duo._wait_for(lambda d, x=link: "active" in (x.get_attribute("class") or ""), timeout=5,
                           msg=f"{label} shown")  # fmt: skip
        dash_duo._wait_for(lambda d, t=tab_id: d.execute_script(f"return !!({READY[t]})"), timeout=20,
                           msg=f"{label} drawn")  # fmt: skip
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(1.5)  # charts and grids settle into their final size (a resize redraws them)
        found = driver.execute_script(GEOMETRY, size == "phone", PHONE_CHROME_MAX_PX)
        if tab_id == ids.TAB_EMERGENCY:
            found += driver.execute_script(DESCRIPTION)
        if tab_id == ids.TAB_MAP:  # its tooltip shows in the screenshot
            found += hover_a_vehicle_at_the_right_edge(dash_duo, city)
        problems += [f"{label} {width}x{height} {theme}: {p}" for p in found]
        save_png(driver, folder / f"{tab_id.removeprefix('tab-')}-{width}x{height}-{theme}.png")
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []
    assert problems == [], "\n".join(problems)
