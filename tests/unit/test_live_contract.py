"""The live read model is declared once (``pipeline.live_model``): a second copy fails here.

The scan reads the server code, the producers, the console's JavaScript and the Lua scripts for
what would re-declare the model: the congestion levels (a literal holding two or more of them,
or a map of them), the vehicle row's columns (five or more of them in a row), the active and
sensor windows as numbers, and the numeric-field set. The Lua scripts must take the model from
their config argument: they are run with a model whose level order and row columns differ, and
their output follows it.
"""

from __future__ import annotations

import re
from pathlib import Path

import fakeredis
import orjson
import pytest

from pipeline import live_model
from pipeline.live_model import LEVELS, NUMERIC, VEHICLE_ROW
from tests.unit.test_speed_layer import rec

ROOT = Path(__file__).resolve().parents[2]
DECLARED_IN = {"pipeline/live_model.py", "pipeline/schemas.py"}  # the model, and what it derives from
# Copies being removed on a branch of their own; empty this set once it is merged.
PENDING_JS: set[str] = set()  # every script reads the model from the page

_BRACKETED = re.compile(r"[\[\(\{][^\[\]\(\)\{\}]*[\]\)\}]")  # innermost literal: list, tuple, table, set
_COLOUR_MAP = re.compile(r"\s*(?:[\"']?\w+[\"']?\s*[:=]\s*[\"']#[0-9a-fA-F]{3,8}[\"']\s*,?\s*)+")
_WINDOWS = re.compile(
    r"\b120_?000\b|\b900_?000\b|\b120\s*\*\s*1000\b|\b[A-Z_]*(?:STALE|ACTIVE)[A-Z_]*\s*[:=]\s*(?:120|900)(?:\.0)?\b"
)


def sources() -> list[str]:
    """Paths (relative to the repository) of the files the model must not be declared in again."""
    found = [*ROOT.glob("pipeline/**/*.py"), *ROOT.glob("app/**/*.py"), *ROOT.glob("producers/**/*.py")]
    found += [p for p in ROOT.glob("assets/*.js") if not p.name.endswith(".min.js")]  # vendored
    found += [*ROOT.glob("pipeline/**/*.lua"), *ROOT.glob("app/**/*.lua")]
    return sorted(str(p.relative_to(ROOT)) for p in found if str(p.relative_to(ROOT)) not in DECLARED_IN)


def _names(segment: str, names: set[str] | frozenset[str] | tuple[str, ...]) -> set[str]:
    """Which ``names`` the segment holds as strings ("x", 'x') or as keys (x: …, x = …)."""
    alternatives = "|".join(re.escape(n) for n in names)
    found = re.findall(rf"([\"'])({alternatives})\1|\b({alternatives})\s*[:=](?!=)", segment)
    return {quoted or key for _, quoted, key in found}


def second_copies(text: str) -> list[str]:
    """What in ``text`` re-declares the live model (empty: nothing)."""
    problems = []
    for m in _BRACKETED.finditer(text):
        segment = m.group(0)[1:-1]
        levels = _names(segment, LEVELS)
        if len(levels) >= 2 and not _COLOUR_MAP.fullmatch(segment):  # a colour per level is presentation
            problems.append(f"congestion levels {sorted(levels)}: {m.group(0)[:80]!r}")
        numeric = _names(segment, NUMERIC)
        if len(numeric) >= 8:
            problems.append(f"numeric fields {sorted(numeric)[:4]}…: {m.group(0)[:80]!r}")
    for start in range(len(VEHICLE_ROW) - 4):
        run = r"\s*,\s*".join(rf"[\"']{re.escape(name)}[\"']" for name in VEHICLE_ROW[start : start + 5])
        for m in re.finditer(run, text):
            problems.append(f"vehicle row columns: {m.group(0)[:80]!r}")
    if re.search(r"\bLEVELS?(?:_(?!COLOU?RS?\b)\w+)?\s*=\s*[\[\(\{]", text):  # LEVEL_COLOURS: presentation
        problems.append("a congestion level map or list")
    problems += [f"a time window as a number: {m.group(0)!r}" for m in _WINDOWS.finditer(text)]
    return problems


@pytest.mark.parametrize("path", sources())
def test_the_live_model_is_declared_once(path: str) -> None:
    if path in PENDING_JS:
        pytest.skip("its copies of the model are being removed")
    assert second_copies((ROOT / path).read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "copy",
    [
        'levels = {"severe": 0, "heavy": 1, "moderate": 2, "light": 3, "free": 4}',
        "local LEVELS = {free = 0, light = 1, moderate = 2, heavy = 3, severe = 4}",
        "const LEVEL_ORDER = {severe: 0, heavy: 1, moderate: 2, light: 3, free: 4};",
        "count(*) FILTER (WHERE level IN ('heavy', 'severe')) AS congested",
        "redis.call('HMGET', V .. id, 'ts', 'lat', 'lon', 'speed', 'heading', 'vehicle_type', 'status', 'road_name')",
        'ROW = ("id", "ts", "lat", "lon", "speed", "heading", "vehicle_type", "status", "road_name")',
        "const STALE_MS = 120000;  // a vehicle not heard of for this long leaves the map",
        "const SENSOR_STALE_MS = 900000;",
        "DATA_STALE_AFTER_S = 120.0",
        '_NUMERIC = {"ts", "lat", "lon", "speed", "heading", "year", "accuracy", "vehicle_count", "intensity"}',
    ],
)
def test_the_scan_finds_each_kind_of_copy(copy: str) -> None:
    """Each of these once stood in the code; the scan must catch them all."""
    assert second_copies(copy)


@pytest.mark.parametrize(
    "fine",
    [
        'LEVEL_COLOURS = dict(zip(LEVELS, ("#2ca02c", "#98df8a", "#ffbf00", "#ff7f0e", "#d62728"), strict=True))',
        'const COLOURS = {free: "#2ca02c", light: "#98df8a", moderate: "#ffbf00", heavy: "#ff7f0e"};',
        'const LEVEL_COLOURS = {free: "#2ca02c", light: "#98df8a"};',
        'theme = ["light", "dark"]',
        '_LAT, _LON = (VEHICLE_ROW.index(k) for k in ("lat", "lon", "speed", "vehicle_type"))',
        "active_s: float = 120.0  # a vehicle unseen this long leaves the active set",
    ],
)
def test_the_scan_leaves_presentation_and_uses_alone(fine: str) -> None:
    assert second_copies(fine) == []


def test_the_speed_layer_script_ranks_congestion_by_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the levels in another order, the congestion index follows it: the script has no
    order of its own."""
    from pipeline.speed_layer import SpeedLayer

    monkeypatch.setattr(live_model, "LEVELS", tuple(reversed(LEVELS)))
    layer = SpeedLayer(fakeredis.FakeRedis(), "contract:")
    layer.write(
        [
            rec("traffic_data", 0, device_id="s1", camera_id="s1", speed=5.0, congestion_level="severe"),
            rec("traffic_data", 0, device_id="s2", camera_id="s2", speed=45.0, congestion_level="free"),
        ]
    )
    ranks = dict(layer.client.zrange(layer.keys.t_congestion, 0, -1, withscores=True))
    assert ranks == {b"s1": 0.0, b"s2": float(len(LEVELS) - 1)}


def test_the_rows_script_builds_the_rows_the_model_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other columns, in another order: the rows follow (numbers as numbers, text as text)."""
    from pipeline.speed_layer import SpeedLayer

    monkeypatch.setattr(live_model, "VEHICLE_ROW", ("id", "road_name", "speed", "lat", "ts"))
    layer = SpeedLayer(fakeredis.FakeRedis(), "contract:")
    _, record = rec("vehicle_data", 0, device_id="car-1", speed=42.26, road_name="Main St")
    layer.write([("vehicle_data", record)])
    (row,) = orjson.loads(layer.vehicle_rows())
    assert row[:4] == ["car-1", "Main St", 42.3, 52.44] and isinstance(row[4], int)
