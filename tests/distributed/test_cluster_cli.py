"""`scripts/cluster` as a user runs it: up, status, down, and the errors it gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.topology import ClusterState

pytestmark = pytest.mark.distributed
ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "scripts" / "cluster"), *args], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_up_status_down_leave_nothing_behind(tmp_path: Path) -> None:
    d = ["--only", "kafka,redis,s3", "--dir", str(tmp_path)]
    up = cli("up", *d)
    assert up.returncode == 0, up.stderr
    assert "export SMARTCITY_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:" in up.stdout
    assert "export SMARTCITY_REDIS_URL=redis://127.0.0.1:" in up.stdout
    assert "export SMARTCITY_LAKE_URI=s3://smartcity/lake" in up.stdout
    state = ClusterState.load(tmp_path)
    assert state is not None and sorted(state.processes) == ["kafka-1", "redis", "s3"]
    assert all(rec.running() for rec in state.processes.values())  # daemons: they outlive the CLI

    again = cli("up", *d)
    assert again.returncode == 0 and "already running" in again.stdout
    assert ClusterState.load(tmp_path) == state

    d = d[2:]
    status = cli("status", *d)
    assert status.returncode == 0, status.stdout
    assert [line.split()[:2] for line in status.stdout.splitlines()[:3]] == [["kafka", "ok"], ["redis", "ok"],
                                                                             ["s3", "ok"]]  # fmt: skip
    assert cli("env", *d).stdout.splitlines() == [line for line in up.stdout.splitlines() if line.startswith("export")]

    down = cli("down", *d)
    assert down.returncode == 0 and "stopped redis, s3, kafka-1" in down.stdout
    assert not any(rec.running() for rec in state.processes.values())
    assert "nothing was running" in cli("down", *d).stdout  # idempotent
    after = cli("status", *d)
    assert after.returncode == 1 and "not running" in after.stderr

    restart = cli("up", "--only", "kafka", *d)  # a new cluster in the same folder
    assert restart.returncode == 0, restart.stderr
    assert "stopped kafka-1" in cli("down", *d).stdout


@pytest.mark.parametrize(("only", "missing"), [("redis", "redis-server"), ("kafka", "java")])
def test_a_missing_program_is_named(tmp_path: Path, only: str, missing: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"} | {"PATH": str(tmp_path / "empty")}
    run = subprocess.run([sys.executable, "-m", "cluster", "up", "--only", only, "--dir", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1
    assert f"cluster: {missing} is not installed" in run.stderr
    assert "Traceback" not in run.stderr
    assert ClusterState.load(tmp_path) is None
