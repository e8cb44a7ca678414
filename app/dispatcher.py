"""Sends each alert to the webhooks that want it: ``Dispatcher``, one per server process.

Alerts come from the alert log's stream (``{alerts}:stream``, one field ``alert`` = JSON),
read through the consumer group ``webhooks``: each process is a consumer, so with several
gunicorn workers each alert is read, and sent, by one of them. An entry is acknowledged once
every hook that wants it has had it, or has had its last try (then a dead letter records it).
While an entry is in flight its consumer keeps claiming it (which keeps it from looking idle);
the entries of a consumer that died stay idle and another one claims them (XAUTOCLAIM) and
sends them again: delivery is at least once, and the ``X-Smartcity-Delivery`` header, the
same on every try, lets a receiver drop a repeat.

Threads: a reader (all Redis calls: reads, claims, status, dead letters, acknowledgements,
retried with backoff while Redis is away) and a few senders (HTTP only). A failed delivery
waits for its retry in a queue ordered by time, so one slow or failing hook holds up neither
the other hooks nor later alerts.

HTTP client: ``requests`` (synchronous, so it runs in the gevent workers' patched sockets
as in plain threads; per-try connect and read timeouts; redirects not followed, so a signed
body never goes anywhere but the hook's URL). httpx is not a dependency.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import requests
from redis.cluster import RedisCluster

from app.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, Hook, Webhooks, delivery_id, signature
from pipeline.alerts import stream_key
from pipeline.backlog import Backoff, transient
from pipeline.speed_layer import text

log = logging.getLogger(__name__)
ALERT_STREAM = stream_key()  # the alert log's (pipeline/alerts.py), with no prefix
GROUP = "webhooks"


@dataclass
class _Job:
    entry: str  # the stream entry's id
    alert_id: str
    body: bytes
    hook_id: str
    attempt: int = 0


class Dispatcher:
    """Reads ``stream`` (on the webhooks' Redis) as a consumer of ``group`` and delivers to
    ``webhooks``' hooks.

    ``tries`` per delivery, ``retry_base_s`` doubling between them with jitter (5 tries over
    about a minute by default), ``timeout_s`` per try (connect and read each), ``senders``
    deliveries at once; an entry is claimed from a dead consumer once idle ``claim_idle_s``.
    """

    def __init__(
        self,
        webhooks: Webhooks,
        stream: str = ALERT_STREAM,
        group: str = GROUP,
        consumer: str | None = None,
        tries: int = 5,
        retry_base_s: float = 5.0,
        timeout_s: float = 5.0,
        senders: int = 4,
        claim_idle_s: float = 60.0,
        block_ms: int = 1000,
        max_jobs: int = 1000,
    ) -> None:
        self.client: redis.Redis | RedisCluster = webhooks.connection()  # the alert stream's Redis too
        self.webhooks, self.stream, self.group = webhooks, stream, group
        self.consumer = consumer or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.tries, self.retry_base_s, self.timeout_s = tries, retry_base_s, timeout_s
        self.senders, self.claim_idle_s, self.block_ms, self.max_jobs = senders, claim_idle_s, block_ms, max_jobs
        self.counts: Counter[str] = Counter()  # delivered, retried, failed, claimed, skipped, redis_errors
        self._hooks: dict[str, Hook] = {}
        self._due: list[tuple[float, int, _Job]] = []  # (monotonic time, tie-break, job)
        self._seq = itertools.count()
        self._left: dict[str, int] = {}  # entry id -> deliveries not finished
        self._outbox: deque[Callable[[], Any]] = deque()  # Redis writes, in order, done by the reader
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started: set[str] = set()
        self._start_lock = threading.Lock()
        self._count_lock = threading.Lock()

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def start(self) -> Dispatcher:
        """Start the reader (once; a no-op after ``stop``). The senders start with the first
        delivery: a process whose city has no webhooks runs one quiet thread."""
        self._start(self._read_loop, "smartcity-webhooks")
        return self

    def _start(self, target: Callable[[], None], name: str, count: int = 1) -> None:
        with self._start_lock:
            if self._stop.is_set() or name in self._started:
                return
            self._started.add(name)
            threads = [threading.Thread(target=_quietly, args=(target,), name=f"{name}-{i}" if count > 1 else name,
                                        daemon=True) for i in range(count)]  # fmt: skip
            self._threads += threads
            for t in threads:
                t.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads. Deliveries not finished stay pending in the group: a live consumer
        claims them once they are idle ``claim_idle_s``."""
        self.request_stop()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _count(self, what: str) -> None:
        with self._count_lock:  # senders count at once: += on a Counter is no atomic step
            self.counts[what] += 1

    def request_stop(self) -> None:
        """Tell the threads to end, without waiting for them."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    # -- the reader: every Redis call ------------------------------------------------------

    def _read_loop(self) -> None:
        backoff = Backoff(first=0.5, longest=10.0)
        ready, next_claim, down = False, 0.0, False
        while not self._stop.is_set():
            try:
                if not ready:
                    self._create_group()
                    ready = True
                self._flush()
                self._hooks = self.webhooks.hooks()
                if time.monotonic() >= next_claim:
                    self._keep_claimed()
                    self._claim_stale()
                    next_claim = time.monotonic() + self.claim_idle_s / 3
                if len(self._left) < self.max_jobs:
                    self._read()
                else:
                    self._stop.wait(0.2)
                if down:
                    log.warning("webhooks: Redis reachable again, dispatching")
                    down = False
                backoff.succeeded()
            except Exception as exc:  # the thread goes on: Redis away, a bug on one entry…
                if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                    ready = False  # the stream or group went (a Redis restarted empty): made again
                elif isinstance(exc, redis.RedisError) and transient(exc):
                    self._count("redis_errors")
                    if not down:
                        log.error("webhooks: Redis unreachable (%s): retrying; deliveries wait", exc)
                    down = True
                else:
                    log.exception("webhooks: dispatching failed; retrying")
                backoff.failed()
                self._stop.wait(backoff.wait())
        try:
            self._flush()  # what is done is recorded, if Redis lets us
        except Exception as exc:
            log.warning("webhooks: %d status writes lost at shutdown (%s)", len(self._outbox), exc)

    def _create_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _flush(self) -> None:
        while self._outbox:
            write = self._outbox[0]
            try:
                write()
            except redis.RedisError as exc:
                if transient(exc):
                    raise
                log.error("webhooks: Redis refused a status write (%s); dropped", exc)
            self._outbox.popleft()

    def _read(self) -> None:
        reply: Any = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=100, block=self.block_ms or None
        )
        for _, entries in reply.items() if isinstance(reply, dict) else reply or []:
            for entry_id, fields in entries:
                self._dispatch(text(entry_id), fields)

    def _keep_claimed(self) -> None:
        """Claim again what this consumer still sends, so no other takes it for a dead one's."""
        with self._cond:
            ids: list[Any] = list(self._left)
        for i in range(0, len(ids), 500):
            self.client.xclaim(self.stream, self.group, self.consumer, 0, list(ids[i : i + 500]), justid=True)

    def _claim_stale(self, pages: int = 10) -> None:
        """Take over the entries left idle by consumers that died; forget long-idle empty ones."""
        start = "0-0"
        for _ in range(pages):
            reply: Any = self.client.xautoclaim(
                self.stream, self.group, self.consumer, int(self.claim_idle_s * 1000), start, count=100
            )
            start, entries = text(reply[0]), reply[1]
            for entry_id, fields in entries:
                if fields is not None:  # an entry trimmed from the stream (Redis 6.2 answers nil)
                    self._count("claimed")
                    self._dispatch(text(entry_id), fields)
            if start == "0-0":
                break
        consumers: Any = self.client.xinfo_consumers(self.stream, self.group)
        for c in consumers:
            name = text(c["name"])
            if name != self.consumer and int(c["pending"]) == 0 and int(c["idle"]) > 3_600_000:
                self.client.xgroup_delconsumer(self.stream, self.group, name)

    def _dispatch(self, entry: str, fields: dict[Any, Any]) -> None:
        with self._cond:
            if entry in self._left:  # claimed again while still being sent
                return
        raw = fields.get(b"alert", fields.get("alert"))
        try:
            alert = orjson.loads(raw) if raw is not None else None
        except orjson.JSONDecodeError:
            alert = None
        if raw is None or not isinstance(alert, dict):
            log.warning("webhooks: stream entry %s holds no alert object; skipped", entry)
            self._count("skipped")
            self._outbox.append(lambda: self._ack(entry))
            return
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
        hooks = [h for h in self._hooks.values() if h.wants(alert.get("severity"), alert.get("rule"))]
        if not hooks:
            self._outbox.append(lambda: self._ack(entry))
            return
        self._start(self._send_loop, "smartcity-webhooks-send", self.senders)
        now = time.monotonic()
        with self._cond:
            self._left[entry] = len(hooks)
            for h in hooks:
                heapq.heappush(self._due, (now, next(self._seq), _Job(entry, str(alert.get("id")), body, h.id)))
            self._cond.notify_all()

    def _ack(self, entry: str) -> None:
        self.client.xack(self.stream, self.group, entry)

    # -- the senders: HTTP only ------------------------------------------------------------

    def _send_loop(self) -> None:
        session = requests.Session()
        try:
            while True:
                with self._cond:
                    job = self._next_due()
                if job is None:
                    return
                self._attempt(session, job)
        finally:
            session.close()

    def _next_due(self) -> _Job | None:
        """The next job whose time has come (waits for it); None once stopping. Holds ``_cond``."""
        while not self._stop.is_set():
            now = time.monotonic()
            if self._due and self._due[0][0] <= now:
                return heapq.heappop(self._due)[2]
            self._cond.wait(min(1.0, self._due[0][0] - now) if self._due else 1.0)
        return None

    def _attempt(self, session: requests.Session, job: _Job) -> None:
        hook = self._hooks.get(job.hook_id)
        if hook is None:  # deleted meanwhile: nothing more to send it
            self._finished(job)
            return
        job.attempt += 1
        status, error = self._post(session, hook, job)
        if error is None:
            self._count("delivered")
            self._outbox.append(lambda: self.webhooks.record(hook.id, "delivered", status, None))
            self._finished(job)
        elif job.attempt < self.tries:
            self._count("retried")
            self._outbox.append(lambda: self.webhooks.record(hook.id, "retrying", status, error))
            delay = self.retry_base_s * 2 ** (job.attempt - 1) * (0.5 + random.random() / 2)
            with self._cond:
                heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), job))
                self._cond.notify_all()
        else:
            self._count("failed")
            log.warning("webhooks: alert %s not delivered to hook %s after %d tries: %s",
                        job.alert_id, hook.id, job.attempt, error)  # fmt: skip
            attempts = job.attempt
            self._outbox.append(lambda: self.webhooks.dead_letter(job.body, hook.id, attempts, error))
            self._outbox.append(lambda: self.webhooks.record(hook.id, "failed", status, error))
            self._finished(job)

    def _post(self, session: requests.Session, hook: Hook, job: _Job) -> tuple[int | None, str | None]:
        """One try: (HTTP status or None, error or None). Errors name the kind of failure only
        (a hook's path may be its secret, and the status is shown in the console)."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "smartcity-webhooks/1",
            SIGNATURE_HEADER: signature(hook.secret, job.body),
            DELIVERY_HEADER: delivery_id(hook.id, job.alert_id),
            "X-Smartcity-Attempt": str(job.attempt),
        }
        try:
            # stream: the answer's body is never read (a receiver could send anything)
            with session.post(hook.url, data=job.body, headers=headers, timeout=self.timeout_s,
                              allow_redirects=False, stream=True) as resp:  # fmt: skip
                status = resp.status_code
        except requests.Timeout:
            return None, f"no answer within {self.timeout_s:g} s"
        except requests.ConnectionError:
            return None, "connection failed (refused, reset or name not found)"
        except requests.RequestException as exc:
            return None, f"request failed ({type(exc).__name__})"
        return status, None if 200 <= status < 300 else f"HTTP {status}"

    def _finished(self, job: _Job) -> None:
        with self._cond:
            left = self._left.get(job.entry, 1) - 1
            if left > 0:
                self._left[job.entry] = left
                return
            self._left.pop(job.entry, None)
        self._outbox.append(lambda: self._ack(job.entry))


def _quietly(target: Callable[[], None]) -> None:
    """Run a thread's loop; a SystemExit raised into the thread ends it without a report, as
    ``threading`` does by default (a test server's shutdown raises one into each new thread)."""
    with contextlib.suppress(SystemExit):
        target()
