"""Many WebSocket clients for the console benchmark: asyncio, one event loop per process.

A thread per client cannot reach 1,000 clients on a 2-core machine (the load average went to
~1,500 and keepalive pings timed out); here each process runs one event loop holding its share
of the clients (the ``websockets`` asyncio client), and sends back what they saw when told to
stop. The processes are started with ``spawn`` and end when the benchmark does.

What a client records of each message is kept cheap, so the load generator's own cost stays
out of the figures: the arrival time is taken first thing on receipt, only the message head
(``HEAD``: its oldest and newest vehicle event and when the server built it) is read, and since
every client gets the same framed bytes, each distinct message is inflated and parsed once
(``Heads``) and its head reused for every client. Each process reports its CPU time over the
measured window and how late its event loop ran, so a reader can tell whether the load
generator was the bottleneck.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

HEAD = re.compile(r'\{"type":"delta","event_ms":(\d+),"oldest_ms":(\d+),"ts":(\d+)')
HEAD_BYTES = 120  # the head is in the first bytes of the JSON
CONNECTING_AT_ONCE = 100  # handshakes in flight per process: a burst of 1,000 SYNs would only queue
Head = tuple[int, int, int]  # (newest vehicle event, oldest vehicle event, built), epoch ms


class Heads:
    """The head of each distinct message, parsed once: keyed by the message's bytes (every client
    gets the same frame), so 1,000 clients cost one inflate and one match per message, not 1,000.
    Holds the last ``size`` messages (a slow client's merged deltas are distinct messages too)."""

    def __init__(self, encoding: str, size: int = 64) -> None:
        self.gzip = encoding == "gzip"
        self.size = size
        self._heads: dict[bytes, Head | None] = {}
        self.parsed = 0  # distinct messages inflated and matched

    def get(self, data: bytes) -> Head | None:
        try:
            return self._heads[data]
        except KeyError:
            pass
        head = data[:HEAD_BYTES]
        if self.gzip:
            head = zlib.decompressobj(wbits=31).decompress(data, HEAD_BYTES)
        match = HEAD.match(head.decode("utf-8", "replace"))
        parsed = None if match is None else (int(match[1]), int(match[2]), int(match[3]))
        self.parsed += 1
        if len(self._heads) >= self.size:
            del self._heads[next(iter(self._heads))]  # the oldest
        self._heads[data] = parsed
        return parsed


class Fleet:
    """One process's clients and what they saw (sent back to the benchmark as a dict)."""

    def __init__(self, url: str, encoding: str) -> None:
        self.url, self.heads = url, Heads(encoding)
        self.samples: list[tuple[float, int, int, int]] = []  # (received, *head) per delivery
        self.messages = 0  # after the snapshot, with or without vehicles
        self.connected = 0
        self.failures: list[str] = []
        self.closed: list[tuple[float, int | None]] = []  # (monotonic, close code) of server closes
        self.lag: list[float] = []  # ms the event loop ran late, every 100 ms
        self.settled = 0

    async def client(self, gate: asyncio.Semaphore, all_settled: asyncio.Event, n: int) -> None:
        connected = False

        def settle() -> None:
            self.settled += 1
            if self.settled == n:
                all_settled.set()

        try:
            async with gate:
                ws = await connect(self.url, max_size=None, compression=None, open_timeout=60)
            async with ws:
                await asyncio.wait_for(ws.recv(decode=False), 60)  # the snapshot
                connected = True
                self.connected += 1
                settle()
                while True:
                    try:
                        data = await ws.recv(decode=False)  # bytes: no UTF-8 check of 361 KB
                    except ConnectionClosed as exc:
                        if exc.rcvd is not None:  # the server closed it (the shutdown measurement)
                            self.closed.append((time.monotonic(), exc.rcvd.code))
                            return
                        raise
                    received = time.time() * 1000  # first thing: the parsing below is ours
                    self.messages += 1
                    head = self.heads.get(data)
                    if head is not None:
                        self.samples.append((received, *head))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}" + ("" if connected else " (connecting)"))
            if not connected:
                settle()

    async def lateness(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.1
            await asyncio.sleep(0.1)
            self.lag.append((loop.time() - due) * 1000)

    async def run(self, n: int, conn: Connection, connect_timeout: float) -> dict[str, Any]:
        gate, all_settled = asyncio.Semaphore(CONNECTING_AT_ONCE), asyncio.Event()
        tasks = [asyncio.create_task(self.client(gate, all_settled, n)) for _ in range(n)]
        if n:
            with suppress(TimeoutError):
                await asyncio.wait_for(all_settled.wait(), connect_timeout)
        conn.send({"connected": self.connected, "failures": len(self.failures)})
        self.samples.clear()  # only what arrives in the measured window (after every client connected)
        self.messages, self.lag = 0, []
        watch = asyncio.create_task(self.lateness())
        cpu = time.process_time()
        await asyncio.to_thread(conn.recv)  # "stop"
        cpu = time.process_time() - cpu
        watch.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each sends its close frame
        return {"connected": self.connected, "failures": self.failures, "messages": self.messages,
                "samples": self.samples, "closed": self.closed, "cpu_s": cpu, "loop_lag_ms": self.lag,
                "distinct_messages": self.heads.parsed}  # fmt: skip


def _process(conn: Connection, url: str, encoding: str, n: int, connect_timeout: float) -> None:
    """A load-generator process: ``n`` clients on one event loop."""
    with suppress(KeyboardInterrupt, BrokenPipeError, EOFError):
        conn.send(asyncio.run(Fleet(url, encoding).run(n, conn, connect_timeout)))


@contextmanager
def clients(url: str, encoding: str, n: int, processes: int, connect_timeout: float = 180) -> Iterator[Any]:
    """``n`` clients of ``url`` spread over ``processes`` processes, connected (or failed) when
    this yields the controller: ``.connected``, and ``.stop()``, which returns every process's
    report. The processes are ended on the way out, whatever happened (a SIGTERM included)."""
    ctx = multiprocessing.get_context("spawn")
    shares = [n // processes + (1 if k < n % processes else 0) for k in range(processes)]
    control, procs = Control(), []
    try:
        for share in shares:
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_process, args=(theirs, url, encoding, share, connect_timeout), daemon=True)
            proc.start()
            control.pipes.append(ours)
            procs.append(proc)
        for pipe in control.pipes:
            control.connected += pipe.recv()["connected"]
        yield control
    finally:
        for proc in procs:
            proc.join(15 if control.stopped else 0)  # sent its report: exiting
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


class Control:
    """The benchmark's end of the load-generator processes."""

    def __init__(self) -> None:
        self.pipes: list[Connection] = []
        self.connected = 0
        self.stopped = False

    def stop(self) -> list[dict[str, Any]]:
        """Stop every client; each process's report (see ``Fleet.run``)."""
        for pipe in self.pipes:
            pipe.send("stop")
        reports = [pipe.recv() for pipe in self.pipes]
        self.stopped = True
        return reports
