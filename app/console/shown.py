"""A tab's slow server reads (the lake's charts, the pipeline's status) run only while the tab
is shown: a hidden tab costs neither a request nor a redraw, and its clock is stopped (the
clocks of hidden tabs still made the Dash renderer and React work every few seconds: in a CPU
profile of the Map at 20,000 vehicles, the largest script of the page's heaviest seconds).
Live data never goes through here: the browser draws it from the live message."""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State, dcc
from dash.development.base_component import Component

from app.console import ids
from app.console.callbacks import clientside_callback


class EveryWhileShown:
    """A refresh of a tab's slow reads (the lake's charts): the ``stamp`` store changes when
    ``tab`` is opened, then every ``every_ms`` while it stays shown; the clock runs only then
    (smartcity.js ``recentTick`` starts and stops it). Made once, at import; ``components()`` go
    in the tab's layout."""

    def __init__(self, tab: str, stamp: str, clock: str, every_ms: int) -> None:
        self.tab, self.stamp, self.clock, self.every_ms = tab, stamp, clock, every_ms
        clientside_callback(
            ClientsideFunction("smartcity", "recentTick"),
            Output(stamp, "data"),
            Output(clock, "disabled"),
            Input(clock, "n_intervals"),
            Input(ids.SHELL_TABS, "active_tab"),
            State(stamp, "data"),
            State(clock, "disabled"),
        )

    def components(self) -> list[Component]:
        return [
            dcc.Interval(id=self.clock, interval=self.every_ms, disabled=True),  # started when shown
            dcc.Store(id=self.stamp, data={"tab": self.tab, "every_ms": self.every_ms}),
        ]
