"""Feeding a tab's server callbacks only while the tab is shown.

A store's new data copied into the tab's own ``*-view`` store by a clientside callback, only
while ``tab`` is the active one (and once when it is opened): the tab's server callbacks read
the view store, so a hidden tab costs neither a request nor a redraw each second.
"""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, clientside_callback

from app.console import ids

VIEWS: list[str] = []  # every view store registered; the page layout holds one dcc.Store each


def when_shown(tab: str, source: str, view: str) -> None:
    VIEWS.append(view)
    clientside_callback(
        ClientsideFunction("smartcity_shown", tab),  # assets/smartcity.js: one function per tab
        Output(view, "data"),
        Input(source, "data"),
        Input(ids.SHELL_TABS, "active_tab"),
    )
