"""Incidents: what can happen on a road, who answers it, and how long it blocks traffic.

Onsets are a Poisson process over the road network (uniform per road metre). Dispatch
(``dispatch``) and movement (``traffic``) live elsewhere; this module owns the catalogue and
the rules (units per kind, slowdown per severity, clearance times), so they read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from producers.network import FloatArray, RoadNetwork

SEVERITY_WEIGHTS = {"low": 0.35, "medium": 0.35, "high": 0.2, "critical": 0.1}
# Speed factor on the incident's own edge; lanes are blocked, traffic squeezes past.
EDGE_SLOWDOWN = {"low": 0.6, "medium": 0.45, "high": 0.3, "critical": 0.2}
NEIGHBOUR_SLOWDOWN = 0.75  # queues spill back, rubbernecking on the opposite side
CLEARANCE_S = {
    "low": (180.0, 480.0),
    "medium": (300.0, 720.0),
    "high": (600.0, 1200.0),
    "critical": (900.0, 1800.0),
}
TIMEOUT_S = 45 * 60.0  # resolved by other means if nobody reaches it


@dataclass(frozen=True)
class IncidentKind:
    """A kind of incident and the emergency units it needs."""

    name: str
    weight: float
    units: tuple[str, ...]
    extra_unit_if_serious: str
    label: str


INCIDENT_KINDS: tuple[IncidentKind, ...] = (
    IncidentKind("accident", 0.35, ("police", "ambulance"), "fire", "Traffic accident"),
    IncidentKind("breakdown", 0.2, ("police",), "police", "Vehicle breakdown"),
    IncidentKind("medical", 0.2, ("ambulance",), "ambulance", "Medical emergency"),
    IncidentKind("fire", 0.12, ("fire",), "ambulance", "Vehicle fire"),
    IncidentKind("hazard", 0.08, ("fire",), "police", "Road hazard"),
    IncidentKind("crime", 0.05, ("police",), "police", "Police operation"),
)
KINDS_BY_NAME = {k.name: k for k in INCIDENT_KINDS}


@dataclass
class Incident:
    """One incident and its lifecycle (times are simulated seconds since start)."""

    id: str
    kind: IncidentKind
    severity: str
    edge: int
    s: float
    lat: float
    lon: float
    road_segment: str
    road_name: str
    started: float
    clearance_s: float
    reporter: str = ""
    status: str = "Active"
    responders: list[int] = field(default_factory=list)
    pending_units: list[str] = field(default_factory=list)
    on_scene_at: float | None = None
    resolved_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status == "Active"

    def units_needed(self) -> list[str]:
        """Emergency vehicle types to send, lead unit first."""
        units = list(self.kind.units)
        if self.severity in ("high", "critical"):
            units.append(self.kind.extra_unit_if_serious)
        return units

    def due_to_resolve(self, now: float) -> bool:
        """Cleared some minutes after the first unit arrived, or timed out."""
        if self.on_scene_at is not None and now >= self.on_scene_at + self.clearance_s:
            return True
        return now - self.started >= TIMEOUT_S

    def description(self) -> str:
        if not self.active:
            return f"{self.kind.label} on {self.road_name} cleared"
        if self.on_scene_at is not None:
            return f"{self.kind.label} on {self.road_name}: units on scene"
        return f"{self.kind.label} on {self.road_name} ({self.severity})"


class IncidentGenerator:
    """Draws incident onsets at ``rate_per_hour`` on random road positions."""

    def __init__(self, network: RoadNetwork, rate_per_hour: float, rng: np.random.Generator) -> None:
        self.network = network
        self.rate_per_hour = rate_per_hour
        self.rate_factor = 1.0  # time of day: more traffic, more incidents (set by the simulation)
        self.rng = rng
        self._edge_p = network.length / network.length.sum()
        self._kind_p = np.array([k.weight for k in INCIDENT_KINDS])
        self._kind_p /= self._kind_p.sum()
        self._sev = tuple(SEVERITY_WEIGHTS)
        self._sev_p = np.array(list(SEVERITY_WEIGHTS.values()))

    def onsets(self, dt: float) -> int:
        """How many incidents start in the next ``dt`` seconds."""
        if self.rate_per_hour <= 0:
            return 0
        return int(self.rng.poisson(self.rate_per_hour * self.rate_factor * dt / 3600.0))

    def create(
        self, now: float, kind: str | None = None, severity: str | None = None, edge: int | None = None
    ) -> Incident:
        """A new incident; unspecified attributes are drawn at random."""
        rng = self.rng
        k = KINDS_BY_NAME[kind] if kind else INCIDENT_KINDS[int(rng.choice(len(INCIDENT_KINDS), p=self._kind_p))]
        sev = severity or self._sev[int(rng.choice(len(self._sev), p=self._sev_p))]
        if sev not in SEVERITY_WEIGHTS:
            raise ValueError(f"unknown severity {sev!r}")
        e = int(rng.choice(len(self._edge_p), p=self._edge_p)) if edge is None else edge
        length = float(self.network.length[e])
        s = length * float(rng.uniform(0.3, 0.7))
        lat, lon, _ = self.network.position(e, s)
        lo, hi = CLEARANCE_S[sev]
        info = self.network.edges[e]
        return Incident(
            id=f"INC-{int(rng.integers(0, 2**32)):08X}",
            kind=k,
            severity=sev,
            edge=e,
            s=s,
            lat=lat,
            lon=lon,
            road_segment=info.id,
            road_name=info.name,
            started=now,
            clearance_s=float(rng.uniform(lo, hi)),
        )


def slowdown(network: RoadNetwork, incidents: list[Incident]) -> FloatArray:
    """Per-edge speed factor (1 = unaffected) from the active incidents."""
    factor = np.ones(len(network))
    for inc in incidents:
        if not inc.active:
            continue
        near = [*network.predecessors(inc.edge), *network.successors(inc.edge)]
        rev = network.reverse[inc.edge]
        if rev is not None:
            near.append(rev)
        factor[near] = np.minimum(factor[near], NEIGHBOUR_SLOWDOWN)
        factor[inc.edge] = min(factor[inc.edge], EDGE_SLOWDOWN[inc.severity])
    return factor
