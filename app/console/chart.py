"""The look shared by the console's Plotly charts: transparent, readable in light and dark themes.

Plotly reads figure text (titles, trace names, axis labels, hover text) as a small HTML subset,
so a device's ``<b>x</b>`` would draw bold: :func:`text` makes such strings literal.

Times: every chart, input and table shows one zone, and says which. It is the city's own zone
(``SMARTCITY_CITY_TIMEZONE``) unless this browser chose UTC (the navbar's ``UTC`` switch,
remembered in the browser). Plotly draws an ISO time without an offset as it is written, so the
figure builders hand it wall-clock times already converted (:func:`times`) and title the axis
with the zone (:func:`time_axis`). Tables and captions print times with :func:`clock` under a
header naming the zone (:func:`label`). The grids the browser fills format theirs with the one
formatter of ``assets/smartcity.js`` (``smartcityTime.clock``), which reads the city's zone from
the page's config object (``city_time_zone``) and follows the same switch.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

_GRID = "rgba(128, 128, 128, 0.25)"
_AXIS = re.compile(r"^[xy]axis\d*$")
DEFAULT_ZONE = "Europe/Berlin"  # the simulated cities' zone, when the app names none
UTC_SWITCH = "shell-utc"  # the navbar switch: on, this browser reads every time in UTC


def city_zone() -> str:
    """The IANA name of the city's zone (the app's ``SMARTCITY_CITY_TIMEZONE``)."""
    name = current_app.config.get("SMARTCITY_CITY_TIMEZONE") if has_app_context() else None
    return str(name or DEFAULT_ZONE)


def zone(utc: bool | None, city: str | None = None) -> ZoneInfo:
    """The zone times are shown in: UTC when asked for, else the city's (``city`` or the app's)."""
    return ZoneInfo("UTC") if utc else ZoneInfo(city or city_zone())


def zone_name(tz: tzinfo) -> str:
    """``Europe/Berlin``, ``UTC``: the zone's name as axis titles and labels show it."""
    return str(getattr(tz, "key", None) or tz.tzname(None) or "UTC")


def _aware(value: datetime | float | int | str) -> datetime:
    """``value`` (a datetime, naive meaning UTC; epoch milliseconds; ISO text) as an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value) / 1000, UTC)


def wall(value: datetime | float | int | str, tz: tzinfo) -> datetime:
    """``value`` as the clock on the wall in ``tz`` reads it (a naive datetime)."""
    return _aware(value).astimezone(tz).replace(tzinfo=None)


def times(values: Iterable[datetime | float | int | str | None], tz: tzinfo) -> list[str | None]:
    """Times as ISO text of their wall-clock time in ``tz`` (what a Plotly date axis draws as
    written); None stays None (a gap)."""
    return [None if v is None else wall(v, tz).isoformat() for v in values]


def clock(value: datetime | float | int | str, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A time as people read it, with its zone's abbreviation: ``2026-12-07 14:03:05 CET``."""
    local = _aware(value).astimezone(tz)
    return f"{local.strftime(fmt)} {local.tzname()}"


def clock_or(
    value: datetime | float | int | str | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S", missing: str = "–"
) -> str:
    """:func:`clock` of a time that may be absent (``missing``) or unreadable (shown as written)."""
    if value is None or value == "":
        return missing
    try:
        return clock(value, tz, fmt)
    except (ValueError, TypeError, OverflowError):
        return str(value)


def label(text: str, tz: tzinfo) -> str:
    """A column header or caption naming the zone of the times under it: ``Reported (Europe/Berlin)``."""
    return f"{text} ({zone_name(tz)})"


def time_axis(tz: tzinfo, span: tuple[Any, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A date x axis titled with the zone its times are in (``time (Europe/Berlin)``), over the
    whole ``span`` when given (one hour of data is not a microsecond wide)."""
    axis: dict[str, Any] = {"type": "date", "title": {"text": f"time ({zone_name(tz)})", "standoff": 4}}
    if span is not None:
        axis["range"] = times(span, tz)
    return {**axis, **extra}


ROAD_LABEL_CHARS = 14  # a road's name on a chart's axis (on a phone the data keeps most of the width)


def short_road(name: str) -> str:
    """A road's name as an axis shows it: at most ``ROAD_LABEL_CHARS``, cut with an ellipsis (the
    hover text has it whole)."""
    return name if len(name) <= ROAD_LABEL_CHARS else name[: ROAD_LABEL_CHARS - 1].rstrip() + "…"


def text(value: Any) -> str:
    """``value`` as Plotly shows it literally: ``<``, ``>`` and ``&`` as the entities Plotly
    turns back into those characters (it knows no ``&quot;``, and quotes outside a tag are
    plain text anyway)."""
    return html.escape(str(value), quote=False)


def layout(title: str, height: int, **extra: Any) -> dict[str, Any]:
    """A figure layout with ``title``; ``extra`` keys (``xaxis``…) are merged over the defaults."""
    base: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 13}, "x": 0.02, "xanchor": "left"},
        "height": height,
        "margin": {"l": 40, "r": 10, "t": 30, "b": 30},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": "#888"},
        "xaxis": {"gridcolor": _GRID, "zerolinecolor": _GRID},
        "yaxis": {"gridcolor": _GRID, "zerolinecolor": _GRID},
    }
    for key, value in extra.items():
        base[key] = {**base[key], **value} if isinstance(base.get(key), dict) and isinstance(value, dict) else value
    if isinstance(base["xaxis"].get("title"), dict) and isinstance(base.get("margin"), dict):
        base["margin"] = {**base["margin"], "b": max(base["margin"].get("b", 30), 48)}  # room for the zone's title
    for key, value in base.items():
        # every axis makes room for its tick labels and title (a long road name, a right-hand AQI
        # axis): the margins above are where it starts, not where it must fit
        if _AXIS.match(key) and isinstance(value, dict):
            base[key] = {"automargin": True, **value}
    legend = base.get("legend")
    if isinstance(legend, dict) and legend.get("orientation") == "h" and "y" not in legend:
        # Plotly puts a horizontal legend just under the tick labels, over the axis title: at the
        # foot of the figure instead, the bottom margin growing to hold it
        base["legend"] = {"x": 0, "xanchor": "left", "yref": "container", "y": 0, "yanchor": "bottom", **legend}
    return base


def recent_axis(span: tuple[Any, Any], tz: tzinfo) -> dict[str, Any]:
    """A date axis over the whole window ``span``, ticks as hours and minutes in ``tz``."""
    return time_axis(tz, span, tickformat="%H:%M")


def empty(title: str, message: str, height: int = 300) -> dict[str, Any]:
    """A figure with no data that says why (``message``) where the data would be."""
    return {
        "data": [],
        "layout": layout(
            title,
            height,
            xaxis={"visible": False},
            yaxis={"visible": False},
            annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
        ),
    }
