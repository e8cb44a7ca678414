"""The simulated clock, shared by the parts of the simulation that need the time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class Clock:
    """Seconds simulated since ``start`` and the instant they correspond to."""

    start: datetime
    elapsed: float = 0.0
    now: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.now = self.start

    def advance(self, dt: float) -> None:
        """Move the clock ``dt`` seconds forward."""
        self.elapsed += dt
        self.now = self.start + timedelta(seconds=self.elapsed)
