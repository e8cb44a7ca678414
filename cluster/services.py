"""The servers of the native cluster, each a daemon on a loopback port, stopped by its record.

Used by ``python -m cluster`` (via :mod:`cluster.topology`) and directly by the tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

import redis

from cluster.exceptions import ClusterError
from cluster.process import ProcessRecord, spawn

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def http_ok(url: str, method: str = "GET") -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=2):
            return True
    except (OSError, urllib.error.HTTPError):
        return False


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Service:
    """A server run as a daemon; ``start`` = ``launch`` + ``wait_ready``."""

    name = "service"
    marker = ""  # what the command line of a live instance contains (see ProcessRecord)

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.record: ProcessRecord | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    def ready(self) -> bool:
        raise NotImplementedError

    def launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc, self.record = spawn(self.command(), self.log_path, self.marker, self.env(), cwd=self.workdir)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise ClusterError(f"{self.name} exited (code {self.proc.returncode}); {self.log_path}:\n"
                                   f"{log_tail(self.log_path)}")  # fmt: skip
            if time.monotonic() > deadline:
                raise ClusterError(f"{self.name} not ready after {timeout:.0f} s; {self.log_path}:\n"
                                   f"{log_tail(self.log_path)}")  # fmt: skip
            time.sleep(0.1)

    def start(self, timeout: float = 30.0) -> None:
        self.launch()
        try:
            self.wait_ready(timeout)
        except ClusterError:
            self.stop()
            raise

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (no shutdown of its own); ``start`` brings it
        back on the same port."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = self.record = None

    def stop(self) -> None:
        if self.record is not None:
            self.record.stop()
        if self.proc is not None:
            self.proc.wait(5)  # reaped: no zombie, no "still running" warning
        self.proc = self.record = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer(Service):
    """A real ``redis-server`` bound to loopback (not --daemonize: we keep its PID); with
    ``persist`` it keeps an append-only file (fsync every second), as production should."""

    name = "redis"
    marker = "redis-server"

    def __init__(self, workdir: Path, port: int | None = None, persist: bool = False) -> None:
        super().__init__(workdir, port)
        self.persist = persist

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ClusterError("redis-server is not installed: run `make test` (it installs it with apt)")
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persist else ["--appendonly", "no"]
        return [binary, "--bind", HOST, "--port", str(self.port), "--save", "", *aof, "--daemonize", "no",
                "--dir", str(self.workdir)]  # fmt: skip

    def ready(self) -> bool:
        client = redis.Redis(host=HOST, port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()


class RedisClusterNode(RedisServer):
    """One master of a :class:`RedisClusterServer`: a ``redis-server`` in cluster mode."""

    def __init__(self, workdir: Path, name: str, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.name = name
        self.bus_port = free_port()  # its own: port + 10000 (the default) may be taken or past 65535

    def command(self) -> list[str]:
        return [*super().command(), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-port", str(self.bus_port), "--cluster-node-timeout", "5000"]  # fmt: skip

    def cluster_ok(self) -> bool:
        client = redis.Redis(host=HOST, port=self.port, socket_connect_timeout=1)
        try:
            return b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return False
        finally:
            client.close()


class RedisClusterServer:
    """A Redis Cluster of ``masters`` native ``redis-server`` nodes (no replicas) on loopback,
    joined with ``redis-cli --cluster create``; each node is a :class:`Service` stopped by its
    record. ``url`` (``redis+cluster://host:port``) is what ``SMARTCITY_REDIS_URL`` takes."""

    name = "redis-cluster"

    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.workdir = Path(workdir)
        self.nodes = [RedisClusterNode(self.workdir / f"node-{i}", f"redis-cluster-{i}") for i in range(1, masters + 1)]

    @property
    def url(self) -> str:
        return f"redis+cluster://{HOST}:{self.nodes[0].port}"

    def launch(self) -> None:
        for node in self.nodes:
            node.launch()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for every node, join them (slots split evenly) and wait for the cluster to be ok."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.wait_ready(max(1.0, deadline - time.monotonic()))
        cli = shutil.which("redis-cli")
        if cli is None:
            raise ClusterError("redis-cli is not installed: run `make test` (it installs it with apt)")
        addresses = [f"{HOST}:{node.port}" for node in self.nodes]
        create = [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"]
        left = max(1.0, deadline - time.monotonic())
        created = subprocess.run(create, capture_output=True, text=True, timeout=left)
        if created.returncode != 0:
            raise ClusterError(f"redis-cli --cluster create failed:\n{created.stdout}\n{created.stderr}")
        while not all(node.cluster_ok() for node in self.nodes):
            if time.monotonic() > deadline:
                raise ClusterError(f"the Redis Cluster is not ok after {timeout:.0f} s; logs in {self.workdir}")
            time.sleep(0.1)

    def start(self, timeout: float = 30.0) -> None:
        self.launch()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class S3Server(Service):
    """An S3-compatible server (moto) bound to loopback; any access key is accepted."""

    name = "s3"
    marker = "moto_server"
    region = "us-east-1"
    access_key = "testing"
    secret_key = "testing"

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        binary = Path(sys.executable).with_name("moto_server")
        if not binary.exists():
            raise ClusterError("moto_server is not installed: bash scripts/setup.sh requirements-dev.txt")
        return [str(binary), "-H", HOST, "-p", str(self.port)]

    def ready(self) -> bool:
        return http_ok(self.endpoint_url)

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` (idempotent: moto answers 200 for an existing bucket of ours)."""
        request = urllib.request.Request(f"{self.endpoint_url}/{bucket}", method="PUT")
        with urllib.request.urlopen(request, timeout=10):
            pass


class MosquittoServer(Service):
    """Eclipse Mosquitto (Debian's ``mosquitto``) bound to loopback, anonymous, with its own config
    file in ``workdir`` and persistence in ``workdir/data``: saved after every change, so that a
    SIGKILLed broker started again (``start``, same port and folder) still holds the QoS 1
    messages it had acknowledged and queued for a persistent session. No limit on queued
    messages: mosquitto's default (1,000 per client) drops acknowledged ones beyond it."""

    name = "mosquitto"
    marker = "mosquitto"

    def __init__(self, workdir: Path, port: int | None = None, save_every: int = 1) -> None:
        """``save_every``: changes (messages queued or acknowledged, subscriptions) between two saves
        of the whole in-memory database. 1 survives a SIGKILL whole, at about 1,400 messages/s on
        2 cores; more is faster and loses up to that many changes to a crash (not to SIGTERM)."""
        super().__init__(workdir, port)
        self.save_every = save_every

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def command(self) -> list[str]:
        binary = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)
        if binary is None:
            raise ClusterError("mosquitto is not installed: run `make test` (it installs it with apt)")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} {HOST}",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {data}/",
                    f"autosave_interval {self.save_every}",
                    "autosave_on_changes true",
                    "max_queued_messages 0",
                    "user root" if os.geteuid() == 0 else "",  # as root it would switch to user mosquitto
                    "log_dest stdout",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                ]
            )
            + "\n"
        )
        return [binary, "-c", str(self.config_path)]

    def ready(self) -> bool:
        return port_open(self.port)
