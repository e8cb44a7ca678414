"""The fleet: vehicle types with their behaviour, and the fleet's state as arrays."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from producers.network import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class VehicleSpec:
    """Behaviour and catalogue of one vehicle type."""

    desired_kmh: float
    length_m: float
    accel: float  # m/s2
    dwell_s: tuple[float, float]  # stop at each destination (loading, passengers)
    parks: bool  # parks between trips for as long as keeps traffic at what the roads carry
    max_age: int
    models: tuple[tuple[str, str, tuple[str, ...]], ...]


# "make|model|fuel types" per vehicle type, as seen on German roads.
_MODELS: dict[str, str] = {
    "car": "Volkswagen|Golf|Petrol Diesel Electric; Volkswagen|Passat|Petrol Diesel;"
    " BMW|3 Series|Petrol Diesel Hybrid; Mercedes-Benz|C-Class|Petrol Diesel; Opel|Corsa|Petrol Electric;"
    " Ford|Focus|Petrol Diesel; Skoda|Octavia|Petrol Diesel CNG; Audi|A4|Petrol Diesel;"
    " Tesla|Model 3|Electric; Renault|Clio|Petrol Diesel; Toyota|Corolla|Hybrid; Fiat|500|Petrol Electric;"
    " Hyundai|Kona|Electric Hybrid; Seat|Leon|Petrol Diesel",
    "bus": "Mercedes-Benz|Citaro|Diesel Hybrid; MAN|Lion's City|Diesel Electric; Solaris|Urbino 12|Electric",
    "taxi": "Mercedes-Benz|E-Class|Diesel Hybrid; Toyota|Prius+|Hybrid; Volkswagen|Touran|Diesel CNG;"
    " Tesla|Model Y|Electric",
    "truck": "MAN|TGL|Diesel; Mercedes-Benz|Actros|Diesel; Iveco|Daily|Diesel CNG;"
    " Volvo|FL Electric|Electric; Scania|P-Series|Diesel",
    "ambulance": "Mercedes-Benz|Sprinter RTW|Diesel; Volkswagen|Crafter RTW|Diesel",
    "police": "Volkswagen|Passat Variant|Diesel; BMW|5 Series Touring|Diesel Hybrid; Mercedes-Benz|Vito|Diesel",
    "fire": "MAN|TGM HLF 20|Diesel; Mercedes-Benz|Atego LF 20|Diesel",
}


def _models(vtype: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    entries = (item.strip().split("|") for item in _MODELS[vtype].split(";"))
    return tuple((make, model, tuple(fuels.split())) for make, model, fuels in entries)


VEHICLE_SPECS: dict[str, VehicleSpec] = {
    "car": VehicleSpec(55, 4.5, 2.5, (0, 0), True, 16, _models("car")),
    "bus": VehicleSpec(45, 12.0, 1.2, (30, 90), False, 12, _models("bus")),
    "taxi": VehicleSpec(55, 4.8, 2.5, (10, 60), True, 8, _models("taxi")),
    "truck": VehicleSpec(50, 9.0, 1.0, (30, 120), True, 14, _models("truck")),
    "ambulance": VehicleSpec(60, 6.5, 3.0, (0, 0), False, 8, _models("ambulance")),
    "police": VehicleSpec(60, 4.9, 3.0, (0, 0), False, 6, _models("police")),
    "fire": VehicleSpec(55, 10.0, 1.5, (0, 0), False, 15, _models("fire")),
}
EMERGENCY = ("ambulance", "police", "fire")


def fleet_mix(n: int) -> dict[str, int]:
    """How many vehicles of each type a fleet of ``n`` has (a handful of each emergency type)."""
    each = min(max(2, round(0.005 * n)), 8, n // 10)
    mix = {"bus": round(0.05 * n), "taxi": round(0.08 * n), "truck": round(0.07 * n)}
    mix.update({t: each for t in EMERGENCY})
    mix["car"] = n - sum(mix.values())
    return {t: mix[t] for t in VEHICLE_SPECS}


class Fleet:
    """All vehicles: static attributes as lists, moving state as numpy arrays (index = vehicle)."""

    def __init__(self, types: list[str]) -> None:
        n = len(types)
        self.type = types
        self.device_id: list[str] = []
        self.static: list[dict[str, Any]] = []  # make/model/year/fuel_type/vehicle_type
        self.edge: IntArray = np.zeros(n, dtype=np.int64)
        self.s: FloatArray = np.zeros(n)
        self.speed: FloatArray = np.zeros(n)  # m/s
        self.desired: FloatArray = np.zeros(n)  # m/s
        self.accel: FloatArray = np.array([VEHICLE_SPECS[t].accel for t in types])
        self.length: FloatArray = np.array([VEHICLE_SPECS[t].length_m for t in types])
        self.hold_until: FloatArray = np.zeros(n)
        self.stop_s: FloatArray = np.full(n, np.inf)
        self.next_report: FloatArray = np.zeros(n)
        self.responding: BoolArray = np.zeros(n, dtype=bool)
        self.parks: BoolArray = np.array([VEHICLE_SPECS[t].parks for t in types], dtype=bool)
        self.trip_start: FloatArray = np.full(n, np.nan)
        self.off_duty: BoolArray = np.zeros(n, dtype=bool)  # off shift: parked at the depot, tracker off
        self.parked_since: FloatArray = np.full(n, np.nan)  # parked until woken (a living city's cars)
        self.route: list[list[int]] = [[] for _ in types]
        self.route_pos: list[int] = [0] * n
        self.dest_s: list[float] = [0.0] * n
        self.status: list[str | None] = [("patrolling" if t in EMERGENCY else None) for t in types]
        self.incident: list[str | None] = [None] * n
        self.terminals: list[tuple[int, int] | None] = [None] * n
        self.index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.type)

    def on_edge(self, edge: int) -> list[int]:
        """Vehicles currently on ``edge``."""
        return np.flatnonzero(self.edge == edge).tolist()

    def snapshot(self, i: int) -> dict[str, Any]:
        """One vehicle's state, for tests and debugging."""
        return {
            "device_id": self.device_id[i],
            "vehicle_type": self.type[i],
            "edge": int(self.edge[i]),
            "s": float(self.s[i]),
            "speed_kmh": float(self.speed[i]) * 3.6,
            "status": self.status[i],
            "incident_id": self.incident[i],
            "route": list(self.route[i]),
        }


def plate(device_id: str, city_code: str = "B") -> str:
    """A German-style licence plate for a device, the same on every run (``B-KX 4821``); drawn
    from the id, not the fleet's random stream, so adding plates moved no simulated vehicle."""
    h = zlib.crc32(device_id.encode())
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return f"{city_code}-{letters[h % 23]}{letters[(h // 23) % 23]} {1 + (h // 529) % 9999}"


def new_fleet(n: int, rng: np.random.Generator, year: int) -> Fleet:
    """A fleet of ``n`` vehicles (mixed as ``fleet_mix``) with makes, models, ages and desired
    speeds drawn from ``rng``; placing them on the roads is up to the traffic model."""
    types = [t for t, k in fleet_mix(n).items() for _ in range(k)]
    fleet = Fleet(types)
    counters = dict.fromkeys(VEHICLE_SPECS, 0)
    for i, t in enumerate(types):
        spec = VEHICLE_SPECS[t]
        counters[t] += 1
        dev = f"{t}-{counters[t]:04d}"
        make, model, fuels = spec.models[int(rng.integers(len(spec.models)))]
        fleet.device_id.append(dev)
        fleet.index[dev] = i
        fleet.static.append(
            {
                "make": make,
                "model": model,
                "plate": plate(dev),
                "year": year - int(rng.integers(0, spec.max_age + 1)),
                "fuel_type": fuels[int(rng.integers(len(fuels)))],
                "vehicle_type": t,
            }
        )
        fleet.desired[i] = spec.desired_kmh / 3.6 * (float(rng.uniform(0.85, 1.05)) if t != "bus" else 1.0)
    return fleet
