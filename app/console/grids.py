"""The console's live tables: AG Grids that the browser fills from the live message."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag


def header_width(header: str) -> int:
    """A column's least width in px: its header's longest word whole (a header wraps between
    words, never inside one) beside the sort and filter icons."""
    longest = max((len(word) for word in header.split()), default=0)
    return max(90, round(8.5 * longest + 48))


def grid(grid_id: str, columns: list[dict[str, Any]], empty: str, **options: Any) -> dag.AgGrid:
    """An AG Grid the live client fills through the grid's API (rows by id, so a selection and
    the scroll position survive updates); every device string is drawn as text.

    Nothing is cut off unseen: a header too long for its column wraps onto a second line, and a
    cell too narrow for its text ends in an ellipsis with the whole text in its ``title`` (the
    browser's own tooltip). Columns past the grid's width are scrolled to, and are in the page."""
    return dag.AgGrid(
        id=grid_id,
        columnDefs=[{"minWidth": header_width(c.get("headerName", "")), **c} for c in columns],
        rowData=[],
        getRowId="params.data.id",
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "flex": 1, "minWidth": 90,
                       "wrapHeaderText": True, "autoHeaderHeight": True,
                       "tooltipValueGetter": {"function": "params.value"}},
        dashGridOptions={"domLayout": "autoHeight", "localeText": {"noRowsToShow": empty}, "animateRows": False,
                         "suppressCellFocus": True, "pagination": True, "paginationPageSize": 20,
                         "enableBrowserTooltips": True,
                         # every column in the page, scrolled to or not: a dozen columns cost
                         # nothing, and find-in-page and screen readers see them all
                         "suppressColumnVirtualisation": True, **options},
        className="smartcity-grid live-figure",
        style={"height": "auto"},
    )  # fmt: skip
