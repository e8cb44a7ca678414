"""Native services for tests and benchmarks, started on free loopback ports and stopped by PID.

Redis and S3 are the native cluster's own (``cluster.services``): one implementation for the
tests, the benchmarks and ``scripts/cluster``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cluster.services import (
    MosquittoServer,
    RedisClusterServer,
    RedisServer,
    S3Server,
    Service,
    free_port,
    http_ok,
    port_open,
)
from cluster.topology import ClusterState

__all__ = [
    "Forwarder",
    "Gunicorn",
    "MosquittoServer",
    "RedisClusterServer",
    "RedisServer",
    "S3Server",
    "Service",
    "cluster_cli",
    "free_port",
    "native_cluster",
]


class Gunicorn(Service):
    """The documented production server for the console alone (gevent workers)."""

    name = "gunicorn"
    marker = "gunicorn"

    def __init__(self, workdir: Path, port: int | None = None, root: Path | None = None, *args: str) -> None:
        super().__init__(workdir, port)
        self.root = root or Path(__file__).resolve().parents[1]
        self.args = args  # more gunicorn flags, e.g. --workers 2

    def command(self) -> list[str]:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        config = str(self.root / "app" / "gunicorn_conf.py")
        return [gunicorn, "--chdir", str(self.root), "-c", config, "-k", "gevent", "-b", f"127.0.0.1:{self.port}",
                *self.args, "app:create_app()"]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.root)}  # the config imports pipeline before --chdir applies

    def ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.port}/api/health")


class Forwarder(Service):
    """A TCP forwarder (tests/forwarder.py) in front of ``target``: an endpoint that can be killed
    and started again on the same port while the server behind it keeps its data."""

    name = "forwarder"
    marker = "tests.forwarder"

    def __init__(self, workdir: Path, target: int, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.target = target

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tests.forwarder", str(self.port), str(self.target)]

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(ROOT)}

    def ready(self) -> bool:
        return port_open(self.port)


ROOT = Path(__file__).resolve().parents[1]


def cluster_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m cluster ARGS`` (what ``scripts/cluster`` runs) from the repo root, with none of
    the caller's ``SMARTCITY_*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
    return subprocess.run([sys.executable, "-m", "cluster", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


@contextmanager
def native_cluster(root: Path, *up_args: str) -> Iterator[ClusterState]:
    """A native cluster in ``root``, started and stopped with the cluster CLI as a user would;
    afterwards every process it recorded must be gone."""
    up = cluster_cli("up", "--dir", str(root), *up_args)
    state = ClusterState.load(root)
    try:
        if up.returncode != 0 or state is None:
            raise RuntimeError(f"cluster up failed:\n{up.stdout}\n{up.stderr}")
        yield state
    finally:
        down = cluster_cli("down", "--dir", str(root), timeout=120)
        left = [f"{name} ({rec.pid})" for name, rec in (state.processes if state else {}).items() if rec.running()]
        if down.returncode != 0 or left:
            raise RuntimeError(f"cluster down left {left}:\n{down.stdout}\n{down.stderr}")
