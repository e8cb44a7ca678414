"""`python app/main.py` as a child process, as a user runs it: its output lines timestamped as
they arrive, its console's URL, its final accounting. Shared by the fault tests and
``benchmarks.faults``; stopped by its PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

import pyarrow.dataset as ds
from pyarrow import fs as pafs

from cluster.services import S3Server

ROOT = Path(__file__).resolve().parents[1]


class Lines:
    """A stream's lines, each with when it arrived (monotonic time), read in a thread."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line))

    def first(self, text: str, after: float = 0.0, timeout: float = 0.0) -> float | None:
        """When the first line holding ``text`` arrived after ``after`` (waiting up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((at for at, line in list(self.lines) if at >= after and text in line), None)
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(0.1)

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    def text(self) -> str:
        return "".join(line for _, line in self.lines)


class Demo:
    """``python app/main.py ARGS`` with ``SMARTCITY_*`` settings of its own only."""

    def __init__(self, workdir: Path, *args: str, **settings: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
        # a steady fleet (every vehicle reports) unless a test asks for the living city
        env |= {"SMARTCITY_LAKE_URI": str(workdir / "lake"), "PYTHONUNBUFFERED": "1", "SMARTCITY_CITY_LIFE": "false"}
        env |= settings
        self.proc = subprocess.Popen(
            [sys.executable, "app/main.py", "--port", "0", *args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out, self.log = Lines(self.proc.stdout), Lines(self.proc.stderr)

    def url(self, timeout: float = 120.0) -> str:
        """The console's base URL, from the first line the demo prints."""
        if self.out.first("Smart City console:", timeout=timeout) is None:
            raise AssertionError(f"the demo printed no URL:\n{self.log.text()[-3000:]}")
        line = next(line for _, line in self.out.lines if "Smart City console:" in line)
        return line.split(": ", 1)[1].split("/login")[0].strip().removesuffix("/")

    def health(self, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
        """``GET /api/health``: status code and body (0 and {} when the server does not answer)."""
        try:
            with urllib.request.urlopen(f"{self.url()}/api/health", timeout=timeout) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")
        except OSError:
            return 0, {}

    def finish(self, timeout: float) -> dict[str, Any]:
        """Wait for the run to end by itself; its final accounting (the last line it prints)."""
        try:
            self.proc.wait(timeout)
        finally:
            self.stop()
        self.out.join()
        self.log.join()
        if self.proc.returncode != 0:
            raise AssertionError(f"the demo exited {self.proc.returncode}:\n{self.log.text()[-5000:]}")
        result: dict[str, Any] = json.loads(self.out.lines[-1][1])
        return result

    def stop(self) -> None:
        """SIGTERM (it drains and flushes), then SIGKILL if it does not end within a minute."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def s3_lake(s3: S3Server, endpoint_port: int) -> dict[str, str]:
    """Settings that put a demo's lake at ``s3://lake/city`` through the endpoint on ``endpoint_port``."""
    return {"SMARTCITY_LAKE_URI": "s3://lake/city", "SMARTCITY_S3_ENDPOINT_URL": f"http://127.0.0.1:{endpoint_port}",
            "SMARTCITY_S3_REGION": s3.region, "SMARTCITY_S3_ACCESS_KEY_ID": s3.access_key,
            "SMARTCITY_S3_SECRET_ACCESS_KEY": s3.secret_key}  # fmt: skip


def s3_lake_rows(s3: S3Server, report: dict[str, Any]) -> int:
    """Rows in ``s3://lake/city`` (read from S3 itself) of the streams the demo's report names."""
    s3fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{s3.port}", scheme="http", region=s3.region,
                             access_key=s3.access_key, secret_key=s3.secret_key)  # fmt: skip
    return sum(
        ds.dataset(f"lake/city/{stream}", filesystem=s3fs, format="parquet", partitioning="hive").count_rows()
        for stream, counts in report["streams"].items()
        if counts["valid"]
    )
