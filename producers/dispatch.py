"""Dispatch: incidents from onset to clearance, and the emergency units sent to them."""

from __future__ import annotations

import numpy as np

from producers.clock import Clock
from producers.fleet import EMERGENCY
from producers.incidents import Incident, IncidentGenerator, slowdown
from producers.traffic import Traffic


class Dispatcher:
    """Opens incidents, sends the nearest free units, puts them on scene and clears up afterwards."""

    def __init__(self, traffic: Traffic, generator: IncidentGenerator, clock: Clock) -> None:
        self.traffic = traffic
        self.generator = generator
        self.clock = clock
        self.incidents: list[Incident] = []
        self._updates: list[Incident] = []  # incidents whose state changed since the last report
        fleet = traffic.vehicles
        self._units = {t: [i for i, x in enumerate(fleet.type) if x == t] for t in EMERGENCY}

    @property
    def active(self) -> list[Incident]:
        """Incidents not yet resolved."""
        return [inc for inc in self.incidents if inc.active]

    def _incident(self, incident_id: str | None) -> Incident | None:
        for inc in self.incidents:
            if inc.id == incident_id:
                return inc
        return None

    def trigger(self, kind: str | None = None, severity: str | None = None, edge: int | str | None = None) -> Incident:
        """Start an incident now; its Active event comes with the next step's report."""
        net = self.traffic.network
        e = net.index[edge] if isinstance(edge, str) else (None if edge is None else int(edge))
        inc = self.generator.create(self.clock.elapsed, kind, severity, e)
        self._open(inc)
        self._announce(inc)
        return inc

    def _open(self, inc: Incident) -> None:
        inc.pending_units = inc.units_needed()
        self.incidents.append(inc)
        self.traffic.incident_factor = slowdown(self.traffic.network, self.incidents)
        self._dispatch(inc)
        lead = inc.responders[0] if inc.responders else None
        inc.reporter = (
            self.traffic.vehicles.device_id[lead] if lead is not None else f"dispatch-{self.traffic.network.name}"
        )

    def _announce(self, inc: Incident) -> None:
        # One emergency event per incident per step, carrying its latest state.
        if all(p is not inc for p in self._updates):
            self._updates.append(inc)

    def start_incidents(self, dt: float) -> None:
        """Open the incidents that begin in the next ``dt`` seconds; retry dispatch for those short of units."""
        elapsed = self.clock.elapsed
        for _ in range(self.generator.onsets(dt)):
            inc = self.generator.create(elapsed)
            self._open(inc)
            self._announce(inc)
        for inc in self.incidents:
            if inc.active and inc.pending_units:
                self._dispatch(inc)
        # Forget incidents resolved over an hour ago so a long run stays small.
        self.incidents = [i for i in self.incidents if i.active or elapsed - (i.resolved_at or 0) < 3600]

    def _dispatch(self, inc: Incident) -> None:
        """Send the nearest free unit of each needed type; types with none free stay pending."""
        traffic = self.traffic
        fleet, net = traffic.vehicles, traffic.network
        ix, iy = net.to_xy(inc.lat, inc.lon)
        still: list[str] = []
        for unit in inc.pending_units:
            free = [i for i in self._units.get(unit, ()) if fleet.status[i] == "patrolling"]
            if not free:
                still.append(unit)
                continue
            lat, lon, _ = net.positions(fleet.edge[free], fleet.s[free])
            x, y = net.to_xy(lat, lon)
            i = free[int(np.argmin(np.hypot(x - ix, y - iy)))]
            fleet.status[i] = "responding"
            fleet.incident[i] = inc.id
            fleet.responding[i] = True
            fleet.hold_until[i] = 0.0
            inc.responders.append(i)
            traffic.set_route(i, inc.edge, inc.s)
            if len(fleet.route[i]) == 1 and fleet.s[i] >= inc.s:
                self.on_scene(i)
        inc.pending_units = still

    def on_scene(self, i: int) -> None:
        """Responding unit ``i`` reached its incident: it stays there until the incident is cleared."""
        fleet = self.traffic.vehicles
        fleet.stop_s[i] = np.inf
        fleet.status[i] = "on_scene"
        fleet.responding[i] = False
        fleet.speed[i] = 0.0
        fleet.hold_until[i] = np.inf
        inc = self._incident(fleet.incident[i])
        if inc is not None and inc.on_scene_at is None:
            inc.on_scene_at = self.clock.elapsed
            self._announce(inc)

    def finish_incidents(self) -> list[Incident]:
        """Resolve the incidents due now and free their units; return every incident whose state
        changed since the last call, in order, for reporting."""
        traffic = self.traffic
        fleet, elapsed = traffic.vehicles, self.clock.elapsed
        changed = False
        for inc in self.incidents:
            if inc.active and inc.due_to_resolve(elapsed):
                inc.status = "Resolved"
                inc.resolved_at = elapsed
                inc.pending_units = []
                changed = True
                for i in inc.responders:
                    if fleet.incident[i] == inc.id:
                        fleet.status[i] = "patrolling"
                        fleet.incident[i] = None
                        fleet.responding[i] = False
                        fleet.hold_until[i] = 0.0
                        traffic.new_trip(i)
                self._announce(inc)
        if changed:
            traffic.incident_factor = slowdown(traffic.network, self.incidents)
        updates, self._updates = self._updates, []
        return updates
