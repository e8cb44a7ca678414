"""The look shared by the console's Plotly charts: transparent, readable in light and dark themes.

Plotly reads figure text (titles, trace names, axis labels, hover text) as a small HTML subset,
so a device's ``<b>x</b>`` would draw bold: :func:`text` makes such strings literal.
"""

from __future__ import annotations

import html
from typing import Any

_GRID = "rgba(128, 128, 128, 0.25)"


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
    return base


def recent_axis(span: tuple[Any, Any]) -> dict[str, Any]:
    """A date axis over the whole window ``span``, ticks as hours and minutes (UTC, as Plotly
    draws an ISO time with its offset left out)."""
    return {"type": "date", "range": [span[0].isoformat(), span[1].isoformat()], "tickformat": "%H:%M"}


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
