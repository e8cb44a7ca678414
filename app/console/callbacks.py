"""The console's callbacks: declared by the tab modules when they are imported, registered on
each console app by :func:`register` through Dash's public ``app.callback`` and
``app.clientside_callback``.

Tab modules use :func:`callback` and :func:`clientside_callback` from here exactly as they
would Dash's global ones. Dash's global registry is emptied into the first app that serves a
request, so a second console in the same process (tests, several ``create_app()`` calls)
would get none; this list is kept, and every console gets all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash

_SERVER: list[tuple[tuple[Any, ...], dict[str, Any], Callable[..., Any]]] = []
_CLIENTSIDE: list[tuple[tuple[Any, ...], dict[str, Any]]] = []


def callback(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a server callback (the arguments of ``dash.callback``); the function is returned
    unchanged, so tests may call it directly."""

    def declare(fn: Callable[..., Any]) -> Callable[..., Any]:
        _SERVER.append((args, kwargs, fn))
        return fn

    return declare


def clientside_callback(*args: Any, **kwargs: Any) -> None:
    """Declare a clientside callback (the arguments of ``dash.clientside_callback``)."""
    _CLIENTSIDE.append((args, kwargs))


def register(app: dash.Dash) -> None:
    """Give ``app`` every callback declared so far."""
    for args, kwargs, fn in _SERVER:
        app.callback(*args, **kwargs)(fn)
    for args, kwargs in _CLIENTSIDE:
        app.clientside_callback(*args, **kwargs)
