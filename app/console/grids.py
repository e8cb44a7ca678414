"""The console's live tables: AG Grids that the browser fills from the live message."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag


def grid(grid_id: str, columns: list[dict[str, Any]], empty: str, **options: Any) -> dag.AgGrid:
    """An AG Grid the live client fills through the grid's API (rows by id, so a selection and
    the scroll position survive updates); every device string is drawn as text."""
    return dag.AgGrid(
        id=grid_id,
        columnDefs=columns,
        rowData=[],
        getRowId="params.data.id",
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "flex": 1, "minWidth": 90},
        dashGridOptions={"domLayout": "autoHeight", "localeText": {"noRowsToShow": empty}, "animateRows": False,
                         "suppressCellFocus": True, "pagination": True, "paginationPageSize": 20, **options},
        className="smartcity-grid live-figure",
        style={"height": "auto"},
    )  # fmt: skip
