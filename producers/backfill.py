"""Backfill: days of simulated history written to the lake, so History has a week to show.

    python -m producers.backfill --days 7            # what `python app/main.py --history-days 7` starts

The events come from ``producers.week`` (a coarser sampling than the live city: see there and
``SMARTCITY_HISTORY_DAYS`` in ``.env.example``). They take the live events' road to the lake:
the validator makes each a lake record (or a dead letter) and the lake writer writes them in
the same layout, one flush per simulated hour. They never touch the speed layer: the live
state is the live city's, and the past must not overwrite it. Once the events are written,
the hourly batch views are written for the backfilled days (``pipeline.views``).

The demo runs it as a child process at low priority (``BackgroundBackfill``): the work is
CPU-bound Python, and in the demo's own process it would hold the interpreter lock from under
the console. The child reports progress as JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import fs as pafs

from pipeline import runtime, views
from pipeline.lake import open_lake
from pipeline.lifetime import die_with_parent
from pipeline.schemas import STREAMS
from pipeline.settings import Settings
from producers.config import SimulationConfig
from producers.daylife import CITY_ZONES, LifeConfig
from producers.network import load_network
from producers.week import WeekSimulation

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
Progress = Callable[[dict[str, Any]], None]


def life_config(settings: Settings) -> LifeConfig:
    """The living city the settings ask for (the city's own time zone)."""
    return LifeConfig(
        enabled=settings.city_life,
        zone=CITY_ZONES.get(settings.city.lower(), settings.naive_timezone),
        parked_offline_after_s=settings.parked_offline_after_seconds,
        dead_gps_share=settings.dead_gps_share,
    )


def simulation_config(settings: Settings, start: datetime | None) -> SimulationConfig:
    """The simulated city the settings ask for, starting at ``start`` (None: now)."""
    return SimulationConfig(
        city=settings.city,
        vehicles=settings.vehicles,
        traffic_sensors=settings.traffic_sensors,
        weather_stations=settings.weather_stations,
        incidents_per_hour=settings.incidents_per_hour,
        report_interval_s=settings.report_interval_seconds,
        seed=settings.seed,
        start=start,
        life=life_config(settings),
    )


def _config(settings: Settings, start: datetime) -> SimulationConfig:
    config = simulation_config(settings, start)
    return replace(config, life=replace(config.life, enabled=True))  # a history is always a living one


def _folders(filesystem: pafs.FileSystem, path: str, prefix: str) -> list[str]:
    """Sub-folders of ``path`` named ``prefix…``, in name order (partition order)."""
    infos = filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.Directory and i.base_name.startswith(prefix))


def earliest_event(settings: Settings) -> datetime | None:
    """The earliest event time in the lake's event tables (None: the lake has no events yet).
    Only the first non-empty ``date=``/``hour=`` partition of each table is read."""
    filesystem, root = open_lake(settings.lake_uri, runtime.s3_options(settings))
    found: list[datetime] = []
    for stream in STREAMS:
        for day in _folders(filesystem, f"{root}/{stream}", "date="):
            hours = _folders(filesystem, day, "hour=")
            part = (
                ds.dataset(hours[0], filesystem=filesystem, format="parquet", ignore_prefixes=[".", "_"])
                if hours
                else None
            )
            times = part.to_table(columns=["event_time"])["event_time"] if part is not None else None
            if times is not None and len(times):
                found.append(pc.min(times).as_py())
                break
    return min(found) if found else None


def _hour_count(start: datetime, end: datetime) -> int:
    """Clock hours that ``[start, end)`` touches (what ``WeekSimulation.hours`` yields)."""
    first = start.replace(minute=0, second=0, microsecond=0)
    last = (end - timedelta(microseconds=1)).replace(minute=0, second=0, microsecond=0)
    return max(1, (last - first) // timedelta(hours=1) + 1)


def _write_hours(settings: Settings, start: datetime, end: datetime, part: int, parts: int, report: Progress) -> None:
    """Simulate ``[start, end)``; validate and write the hours ``number % parts == part``, one flush each."""
    week = WeekSimulation(_config(settings, start), start, end)
    validator, writer = runtime.validator(settings), runtime.lake_writer(settings)
    for _, _, events in week.hours(lambda number: number % parts == part):
        if not events and parts > 1:
            continue
        oks, errs = validator.validate_batch(((s, e) for s, _, e in events), "backfill", datetime.now(UTC))
        by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for stream, record in oks:
            by_stream[stream].append(record)
        for stream, records in by_stream.items():
            writer.add(stream, records)
        writer.add_dead_letters(errs)
        report({"events": len(events), "dead_letters": len(errs), "rows": writer.flush()})


def _worker(settings: Settings, start: datetime, end: datetime, part: int, parts: int, queue: Any) -> None:
    die_with_parent(os.getppid())()  # a backfill killed outright takes its workers with it
    try:
        _write_hours(settings, start, end, part, parts, queue.put)
    except BaseException as exc:  # the parent says so and fails; nothing is retried
        queue.put({"error": f"{type(exc).__name__}: {exc}"})
        raise
    queue.put({"finished": part})


def _run_parts(
    settings: Settings, start: datetime, end: datetime, workers: int, hour: Callable[[dict[str, Any]], None]
) -> None:
    """The hours shared by ``workers`` processes (each simulates the whole range, so the city is
    the same in all; each builds, validates and writes every ``workers``-th hour)."""
    if workers <= 1:
        _write_hours(settings, start, end, 0, 1, hour)
        return
    ctx = mp.get_context("fork")  # the road network loaded here is shared, not loaded again
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(settings, start, end, k, workers, queue), daemon=True)
             for k in range(workers)]  # fmt: skip
    for proc in procs:
        proc.start()
    finished = 0
    try:
        while finished < workers:
            msg = queue.get()
            if "error" in msg:
                raise RuntimeError(f"a backfill worker failed: {msg['error']}")
            if "finished" in msg:
                finished += 1
            else:
                hour(msg)
    finally:
        for proc in procs:
            if proc.is_alive() and finished < workers:
                proc.terminate()
            proc.join()


def backfill(
    settings: Settings,
    days: float,
    end: datetime | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Write ``days`` of simulated history ending at ``end`` (default: this minute) to the lake
    of ``settings``, then the hourly views of those days; return what was written. ``workers``
    processes share the hours (default: up to 2, as CPUs allow)."""
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    # History goes before what the lake holds already (live or an earlier backfill), never on top of it.
    first = earliest_event(settings)
    if first is not None and first < end:
        end = max(start, first.replace(second=0, microsecond=0))
    workers = workers or min(2, os.cpu_count() or 1)
    t0 = time.monotonic()
    status: dict[str, Any] = {"state": "running", "days": days, "start": start.isoformat(), "end": end.isoformat(),
                              "fraction": 0.0, "events": 0, "dead_letters": 0, "rows": {}, "seconds": 0.0,
                              "workers": workers}  # fmt: skip
    report = progress or (lambda _: None)
    report(dict(status))
    if end <= start:  # the lake already has this history
        status.update(state="done", fraction=1.0, views={}, note="the lake already holds these days")
        report(dict(status))
        return status
    load_network(settings.city)  # once, before any worker starts
    total, done = _hour_count(start, end), 0
    rows: dict[str, int] = defaultdict(int)

    def hour(msg: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        for table, n in msg["rows"].items():
            rows[table] += n
        status.update(fraction=round(min(done / total, 1.0) * 0.97, 4), events=status["events"] + msg["events"],
                      dead_letters=status["dead_letters"] + msg["dead_letters"], rows=dict(rows),
                      seconds=round(time.monotonic() - t0, 1))  # fmt: skip
        report(dict(status))

    _run_parts(settings, start, end, workers, hour)
    status["state"] = "views"
    report(dict(status))
    filesystem, root = open_lake(settings.lake_uri, runtime.s3_options(settings))
    status["views"] = views.write_views(filesystem, root, start.date(), end.date() + timedelta(days=1))
    status.update(state="done", fraction=1.0, seconds=round(time.monotonic() - t0, 1))
    report(dict(status))
    return status


class BackgroundBackfill:
    """``python -m producers.backfill`` as a child process of the demo, its progress read as it goes."""

    def __init__(self, settings: Settings, days: float, end: datetime | None = None) -> None:
        self.days = days
        self.end = (end or datetime.now(UTC)).replace(second=0, microsecond=0)
        self.args = [sys.executable, "-m", "producers.backfill", "--days", str(days), "--end", self.end.isoformat(),
                     "--vehicles", str(settings.vehicles), "--city", settings.city, "--seed", str(settings.seed),
                     "--lake-uri", settings.lake_uri, "--progress", "--nice"]  # fmt: skip
        self._status: dict[str, Any] = {"state": "starting", "days": days, "fraction": 0.0, "events": 0}
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> BackgroundBackfill:
        # ends with the demo, even when the demo is SIGKILLed
        self._proc = subprocess.Popen(
            self.args, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent(os.getpid())
        )
        assert self._proc.stdout is not None
        threading.Thread(target=self._read, args=(self._proc.stdout,), name="smartcity-backfill", daemon=True).start()
        return self

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                self._status = json.loads(line)
            except ValueError:
                continue
        code = self._proc.wait() if self._proc is not None else 0
        if self._status.get("state") != "done":
            self._status = {**self._status, "state": "failed", "error": f"the backfill exited with {code}"}

    def status(self) -> dict[str, Any]:
        """Progress as JSON: state (starting, running, views, done, failed), fraction, events, rows…"""
        return dict(self._status)

    def describe(self) -> str:
        """Progress in words, for the status line."""
        s = self._status
        if s["state"] == "done":
            return f"history backfilled: {s['days']:g} days, {s['events']} events in {s.get('seconds', 0):.0f} s"
        if s["state"] == "failed":
            return f"history backfill failed ({s.get('error', 'see the log')})"
        if s["state"] == "views":
            return f"history backfill: writing the hourly views ({s['events']} events written)"
        return f"history backfill {100 * s['fraction']:.0f}% of {s['days']:g} days, {s['events']} events written"

    def stop(self, timeout: float = 10.0) -> None:
        """End the child (its flushed hours stay in the lake; rerunning writes them again)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m producers.backfill", description=__doc__.split("\n")[0])
    p.add_argument("--days", type=float, required=True, help="days of history ending at --end")
    p.add_argument("--end", type=datetime.fromisoformat, help="end of the history, ISO-8601 (default: now)")
    p.add_argument("--vehicles", type=int, help="vehicles (default SMARTCITY_VEHICLES)")
    p.add_argument("--city", help="road network (default SMARTCITY_CITY)")
    p.add_argument("--seed", type=int, help="simulation seed (default SMARTCITY_SEED)")
    p.add_argument("--lake-uri", help="lake folder or s3://bucket/prefix (default SMARTCITY_LAKE_URI)")
    p.add_argument("--progress", action="store_true", help="print progress as JSON lines")
    p.add_argument("--nice", action="store_true", help="run at low CPU priority (beside a live demo)")
    p.add_argument("--workers", type=int, help="processes sharing the hours (default: up to 2, as CPUs allow)")
    args = p.parse_args(argv)
    overrides = {"vehicles": args.vehicles, "city": args.city, "seed": args.seed, "lake_uri": args.lake_uri}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.nice:
        os.nice(10)
    end = None if args.end is None else (args.end.replace(tzinfo=UTC) if args.end.tzinfo is None else args.end)

    def report(status: dict[str, Any]) -> None:
        if args.progress:
            print(json.dumps(status), flush=True)

    result = backfill(settings, args.days, end, report, args.workers)
    if not args.progress:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
