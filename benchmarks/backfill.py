"""Backfill benchmark: days of simulated history into a fresh local lake, one JSON document.

    python -m benchmarks.backfill --days 7 --vehicles 1000

Figures: wall ``seconds`` (events, then the hourly views), ``events`` written, ``events_per_s``,
``lake_bytes`` on disk, rows per stream and the share of the time the views took. The machine
the figure comes from matters (CPU, other load): it is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import run
from pipeline.settings import Settings
from producers.backfill import backfill


def lake_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.backfill", description=__doc__.split("\n")[0])
    p.add_argument("--days", type=float, default=7.0)
    p.add_argument("--vehicles", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=int, help="processes sharing the hours (default: up to 2)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smartcity-backfill-") as tmp:
        lake = Path(tmp) / "lake"
        settings = Settings(_env_file=None, lake_uri=str(lake), vehicles=args.vehicles, seed=args.seed)
        views_at: list[float] = []

        def progress(status: dict[str, Any]) -> None:
            if status["state"] == "views" and not views_at:
                views_at.append(time.monotonic())

        t0, cpu0 = time.monotonic(), time.process_time()
        result = backfill(settings, args.days, progress=progress, workers=args.workers)
        seconds = time.monotonic() - t0
        figures = {
            "days": args.days,
            "vehicles": args.vehicles,
            "seconds": round(seconds, 1),
            "cpu_seconds": round(time.process_time() - cpu0 + children_cpu(), 1),  # workers included
            "workers": result["workers"],
            "events": result["events"],
            "events_per_s": round(result["events"] / seconds),
            "lake_bytes": lake_bytes(lake),
            "rows": result["rows"],
            "dead_letters": result["dead_letters"],
            "views_seconds": round(t0 + seconds - views_at[0], 1) if views_at else None,
            "view_rows": result.get("views"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1min": os.getloadavg()[0]},
        }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    run(main)
