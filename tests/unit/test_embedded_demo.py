"""The one-process demo's store choice and how it reports keeping up: no process, no I/O."""

from __future__ import annotations

import logging

import fakeredis
import pytest

from app.main import pace_text, simulation_status
from pipeline.accounting import Accounting
from pipeline.runtime import store_client
from pipeline.settings import Settings
from producers.runner import RunStats


def stats_after(steps: list[tuple[float, float]], time_scale: float = 1.0) -> RunStats:
    """A run started at t=0 that reached each (wall time, simulated seconds) in turn."""
    stats = RunStats(time_scale=time_scale, started=0.0)
    stats.mark(0.0)
    for at, sim_s in steps:
        stats.sim_seconds = sim_s
        stats.mark(at)
    return stats


def test_a_run_on_schedule_is_at_real_time_and_not_behind() -> None:
    # each quarter second made as it begins, then waited out: the run is a step ahead
    stats = stats_after([(0.25 * (i - 1) + 0.01, 0.25 * i) for i in range(1, 82)])
    pace = stats.pace(now=20.1)
    assert pace == {"realtime_factor": 1.0, "behind_s": 0.0}
    status = simulation_status(stats, 1.0, now=20.1)
    assert status is not None and status["behind"] is False


def test_a_run_at_half_speed_says_how_far_behind_it_is() -> None:
    stats = stats_after([(0.5 * i, 0.25 * i) for i in range(1, 81)])  # each quarter second takes half a second
    pace = stats.pace(now=40.0)
    assert pace["realtime_factor"] == pytest.approx(0.5, abs=0.01)
    assert pace["behind_s"] == pytest.approx(20.0, abs=0.01)
    status = simulation_status(stats, 1.0, now=40.0)
    assert status is not None and status["behind"] is True
    assert "CITY BEHIND REAL TIME: 0.50x, 20.0 s behind" in pace_text(status)


def test_a_run_stuck_on_a_full_bus_counts_as_stopped() -> None:
    stats = stats_after([(0.25 * i, 0.25 * i) for i in range(1, 41)])  # on time for 10 s, then no step
    pace = stats.pace(now=25.0)
    assert pace["realtime_factor"] == 0.0  # not its last step's pace
    assert pace["behind_s"] == pytest.approx(15.0)


def test_flat_out_and_replays_have_no_schedule_to_fall_behind() -> None:
    assert stats_after([(1.0, 30.0)], time_scale=0).pace(now=1.0)["behind_s"] is None
    assert simulation_status(None, 1.0) is None
    assert simulation_status(RunStats(), 0.0) is None
    assert pace_text(None) == ""


def test_the_status_line_says_real_time_when_the_city_keeps_up() -> None:
    status = {"realtime_factor": 1.0, "behind_s": 0.0, "time_scale": 1.0, "behind": False}
    assert pace_text(status) == " | city 1.00x real time"


def test_the_demo_reports_latency_over_every_event_of_the_run() -> None:
    from app.main import whole_run_latency

    acc = Accounting()
    acc.latencies_ms.extend([900.0] * 100)  # an early stall
    acc.latencies_ms.extend([5.0] * 20_000)  # then calm for longer than any recent window
    run = whole_run_latency(acc)
    assert run["samples"] == 20_100 and run["max"] == 900.0 and run["p50"] == 5.0
    acc.latencies_ms.extend([900.0] * 200)
    assert 891.0 <= whole_run_latency(acc)["p99"] <= 909.0  # within the histogram's 1 %


def test_the_embedded_store_is_a_server_by_default() -> None:
    assert Settings(_env_file=None).embedded_store == "server"
    with pytest.raises(ValueError, match="embedded_store"):
        Settings(_env_file=None, embedded_store="sqlite")


def test_fakeredis_when_asked_for_starts_no_process() -> None:
    client, child = store_client(Settings(_env_file=None, embedded_store="fakeredis"))
    assert child is None and isinstance(client, fakeredis.FakeRedis)


def test_a_missing_server_binary_falls_back_to_fakeredis_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(_env_file=None, embedded_store_binary="/nonexistent/valkey-server")
    with caplog.at_level(logging.WARNING):
        client, child = store_client(settings)
    assert child is None and isinstance(client, fakeredis.FakeRedis)
    assert "/nonexistent/valkey-server is not an executable file" in caplog.text
    assert "falling back to the in-process fakeredis store" in caplog.text
