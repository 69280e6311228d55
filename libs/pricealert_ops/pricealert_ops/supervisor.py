"""Runs the services as child processes and restarts any that exits.

An arq worker exits when Redis restarts, and a crashed process must not take the
service with it: each child is restarted with a backoff (1 s doubling to 30 s,
reset after a minute of running). SIGTERM/SIGINT are passed on to every child,
which drain (workers finish their jobs); children still running after the grace
period are killed.

- **One per checkout.** `RunLock` holds an flock on `.local/run.lock` (the pid
  inside): a second `pricealert run` says "another PriceAlert is running (pid …)"
  and exits. The children inherit the lock, so it is free only when the last
  process of a run has gone; a lock whose holders died is free (flock), so a
  stale file never blocks.
- **Children die with their supervisor**, even a SIGKILLed one: each child asks
  Linux for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`), and drains as it
  would on Ctrl-C.
- **A child that cannot start** for a reason a person must fix exits with 78
  (`pricealert.worker.EXIT_CANNOT_START`, after one line naming it): everything
  stops and the supervisor exits 78, instead of restarting it forever.
- **Ready, in words**: once the API's and the web UI's `/readyz` answer 200 and
  every worker has said READY (a datagram on `PRICEALERT_READY_SOCKET`), it logs
  `supervisor.ready` with the summary "API ready on http://… — scraper,
  evaluator, notifier running — web UI on http://…", and, when the logs are for a
  person (console), prints it on stderr.
- **The web UI is a client of the API**: its child is told the API's URL
  (`PRICEALERT_API_URL`), and every child the web UI's (`PRICEALERT_WEB_BASE_URL`:
  the notifier writes sign-in links to it), unless the environment says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pricealert.logging import get_logger, use_json
from pricealert.supervised import (
    CHILD_NAME_ENV,
    EXIT_CANNOT_START,
    HTTP_SERVICES,
    METRICS_PORT_OFFSETS,
    READY_SOCKET_ENV,
    service_command,
    socket_address,
)
from pricealert_ops.devtools.server_programs import pid_alive

if TYPE_CHECKING:
    import httpx

MAX_BACKOFF_SECONDS: Final = 30.0
STABLE_AFTER_SECONDS: Final = 60.0
_PR_SET_PDEATHSIG: Final = 1

_log = get_logger("pricealert_ops.supervisor")


class AlreadyRunning(RuntimeError):
    """Another run of this checkout holds the lock; `pids` are its processes."""

    def __init__(self, pids: list[int], supervisor_alive: bool) -> None:
        self.pids = pids
        listed = ", ".join(str(p) for p in pids) or "unknown"
        if supervisor_alive:
            message = f"another PriceAlert is running (pid {listed}); stop it first (Ctrl-C there)"
        else:
            message = (
                f"another PriceAlert is running (pid {listed}): processes of a supervisor that "
                "is gone, draining; they exit within half a minute, or stop them"
            )
        super().__init__(message)


@dataclass
class RunLock:
    """An flock on `path` for this run's lifetime, shared with its children (see module doc)."""

    path: Path
    fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise AlreadyRunning naming who holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._who_holds_it() from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _who_holds_it(self) -> AlreadyRunning:
        try:
            recorded = int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            recorded = 0
        if recorded and pid_alive(recorded):
            return AlreadyRunning([recorded], supervisor_alive=True)
        return AlreadyRunning(_pids_holding(self.path), supervisor_alive=False)


def _pids_holding(path: Path) -> list[int]:
    """Processes with `path` open (Linux /proc; the lock's holders)."""
    target = str(path.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                found.append(int(entry.name))
    return sorted(found)


def _die_with(parent: int) -> Callable[[], None] | None:
    """A preexec function asking Linux to SIGTERM the child when `parent` dies."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only the supervisor needs it

    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody would signal us
            os._exit(1)

    return preexec


@dataclass
class Child:
    name: str
    service: str
    command: list[str]
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 1.0


@dataclass
class Supervisor:
    """Keeps `instances` processes of each service running until stopped."""

    services: list[str]
    instances: int = 1
    host: str = "127.0.0.1"
    port: int = 8000
    web_port: int = 8080
    metrics_port_base: int = 0
    grace_seconds: float = 25.0
    #: File descriptors every child inherits (the run lock).
    pass_fds: tuple[int, ...] = ()
    children: list[Child] = field(default_factory=list)
    exit_code: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _ready: set[str] = field(default_factory=set)
    _ready_changed: asyncio.Event = field(default_factory=asyncio.Event)
    _ready_address: str = ""

    def __post_init__(self) -> None:
        for service in self.services:
            count = 1 if service in HTTP_SERVICES else self.instances
            for index in range(count):
                env = dict(os.environ)
                env["PRICEALERT_SERVICE_INSTANCE"] = str(index)
                env[CHILD_NAME_ENV] = f"{service}-{index}"
                env.setdefault("PRICEALERT_WEB_BASE_URL", self.web_url)
                if service == "web":
                    env.setdefault("PRICEALERT_API_URL", self.api_url)
                if service not in HTTP_SERVICES and self.metrics_port_base:
                    port = self.metrics_port_base + METRICS_PORT_OFFSETS[service] + 100 * index
                    env["PRICEALERT_METRICS_PORT"] = str(port)
                self.children.append(
                    Child(
                        name=f"{service}-{index}",
                        service=service,
                        command=service_command(
                            service, host=self.host, port=self.port, web_port=self.web_port
                        ),
                        env=env,
                    )
                )

    async def run(self) -> int:
        """Start everything; return when stopped by a signal, `stop()` or a child that cannot
        start (then `EXIT_CANNOT_START`)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        ready_socket = self._open_ready_socket()
        _log.info("supervisor.started", children=[c.name for c in self.children])
        watchers = [asyncio.create_task(self._keep_running(child)) for child in self.children]
        announcer = asyncio.create_task(self._announce_when_ready())
        await self._stopping.wait()
        announcer.cancel()
        await self._terminate_all()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(announcer, *watchers, return_exceptions=True)
        loop.remove_reader(ready_socket.fileno())
        ready_socket.close()
        _log.info("supervisor.stopped", exit_code=self.exit_code)
        return self.exit_code

    def stop(self) -> None:
        self._stopping.set()

    @property
    def api_url(self) -> str:
        """Where the API answers (a wildcard bind is reached on loopback)."""
        return self._url(self.port)

    @property
    def web_url(self) -> str:
        """Where the web UI answers."""
        return self._url(self.web_port)

    def _url(self, port: int) -> str:
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def _open_ready_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._ready_address = f"@pricealert-ready-{os.getpid()}-{secrets.token_hex(6)}"
        sock.bind(socket_address(self._ready_address))
        sock.setblocking(False)
        for child in self.children:
            child.env[READY_SOCKET_ENV] = self._ready_address

        def receive() -> None:
            with contextlib.suppress(BlockingIOError, OSError):
                while True:
                    message = sock.recv(256).decode(errors="replace").split()
                    if len(message) == 2 and message[0] == "READY":
                        self._ready.add(message[1])
                        self._ready_changed.set()

        asyncio.get_running_loop().add_reader(sock.fileno(), receive)
        return sock

    async def _announce_when_ready(self) -> None:
        workers = {c.name for c in self.children if c.service not in HTTP_SERVICES}
        while not workers <= self._ready:
            self._ready_changed.clear()
            await self._ready_changed.wait()
        urls = {"api": self.api_url, "web": self.web_url}
        servers = [urls[s] for s in HTTP_SERVICES if any(c.service == s for c in self.children)]
        if servers:
            import httpx  # here: workers import this module for notify_ready, and start faster

            logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per poll
            async with httpx.AsyncClient(timeout=2.0) as client:
                for server in servers:
                    while not await _answers_ready(client, f"{server}/readyz"):  # noqa: ASYNC110 - HTTP polling has no event
                        await asyncio.sleep(0.2)
        summary = self.ready_summary()
        _log.info("supervisor.ready", summary=summary)
        _tell_a_person(f"{summary} (Ctrl-C stops them)")

    def ready_summary(self) -> str:
        """ "API ready on http://127.0.0.1:8000 — scraper, evaluator, notifier running — web UI
        on http://127.0.0.1:8080"."""
        workers = list(
            dict.fromkeys(c.service for c in self.children if c.service not in HTTP_SERVICES)
        )
        each = f" ({self.instances} each)" if self.instances > 1 and workers else ""
        parts = [f"{', '.join(workers)} running{each}"] if workers else []
        if "api" in self.services:
            parts.insert(0, f"API ready on {self.api_url}")
        if "web" in self.services:
            parts.append(f"web UI on {self.web_url}")
        return " — ".join(parts)

    async def _keep_running(self, child: Child) -> None:
        while not self._stopping.is_set():
            child.process = await asyncio.create_subprocess_exec(
                *child.command,
                env=child.env,
                pass_fds=self.pass_fds,
                preexec_fn=_die_with(os.getpid()),
            )
            child.started_at = time.monotonic()
            _log.info("process.started", child=child.name, pid=child.process.pid)
            code = await child.process.wait()
            self._ready.discard(child.name)
            if self._stopping.is_set():
                return
            if code == EXIT_CANNOT_START:
                _log.error("process.cannot_start", child=child.name, code=code)
                _tell_a_person(
                    f"{child.name} cannot start (see its worker.cannot_start line); "
                    "stopping everything"
                )
                self.exit_code = EXIT_CANNOT_START
                self.stop()
                return
            ran_for = time.monotonic() - child.started_at
            if ran_for > STABLE_AFTER_SECONDS:
                child.backoff = 1.0
            _log.warning("process.exited", child=child.name, code=code, restart_in=child.backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), child.backoff)
            child.restarts += 1
            child.backoff = min(child.backoff * 2, MAX_BACKOFF_SECONDS)

    async def _terminate_all(self) -> None:
        running = [c.process for c in self.children if c.process and c.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), self.grace_seconds)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*(p.wait() for p in running))


def _tell_a_person(sentence: str) -> None:
    """A plain sentence on stderr when a person reads the logs (console format); with JSON
    logs every line stays JSON, and the log event says the same."""
    if not use_json():
        print(sentence, file=sys.stderr, flush=True)


async def _answers_ready(client: httpx.AsyncClient, url: str) -> bool:
    import httpx

    try:
        return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False
