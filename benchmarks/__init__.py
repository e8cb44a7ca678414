"""Benchmarks: each ``python -m benchmarks.<name>`` prints one JSON document (README, Performance)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import NoReturn


def run(main: Callable[[], int]) -> NoReturn:
    """Run a benchmark's ``main`` and exit with its code. A SIGTERM (``timeout``, a CI runner's
    cancel) ends it as an exception does, so the ``finally`` blocks and context managers stop the
    services it started (a SIGTERM's default would leave them running)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    sys.exit(main())
