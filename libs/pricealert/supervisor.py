"""Runs the services as child processes and restarts any that exits.

An arq worker exits when Redis restarts, and a crashed process must not take the
service with it: each child is restarted with a backoff (1 s doubling to 30 s,
reset after a minute of running). SIGTERM/SIGINT are passed on to every child,
which drain (workers finish their jobs); children still running after the grace
period are killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Final

from pricealert.logging import get_logger

SERVICES: Final = ("api", "scraper", "evaluator", "notifier")
#: Each worker's /metrics port: base + offset, + 100 per extra instance.
METRICS_PORT_OFFSETS: Final = {"scraper": 1, "evaluator": 2, "notifier": 3}
MAX_BACKOFF_SECONDS: Final = 30.0
STABLE_AFTER_SECONDS: Final = 60.0

_log = get_logger("pricealert.supervisor")


def worker_command(service: str) -> list[str]:
    """The arq command of a worker, its own log lines JSON like every other line."""
    return [
        "arq", "--custom-log-dict", "pricealert.logging.ARQ_LOG_CONFIG",
        f"services.{service}.worker.WorkerSettings",
    ]  # fmt: skip


def service_command(service: str, *, host: str, port: int) -> list[str]:
    """The command that runs one service (the same in Docker, ECS and here)."""
    if service == "api":
        return [
            sys.executable, "-m", "uvicorn", "services.api.main:app",
            "--host", host, "--port", str(port),
            "--no-access-log", "--proxy-headers", "--loop", "uvloop", "--http", "httptools",
        ]  # fmt: skip
    if service in SERVICES:
        return [sys.executable, "-m", *worker_command(service)]
    raise ValueError(f"unknown service {service!r}")


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
    metrics_port_base: int = 0
    grace_seconds: float = 25.0
    children: list[Child] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        for service in self.services:
            count = 1 if service == "api" else self.instances
            for index in range(count):
                env = dict(os.environ)
                env["PRICEALERT_SERVICE_INSTANCE"] = str(index)
                if service != "api" and self.metrics_port_base:
                    port = self.metrics_port_base + METRICS_PORT_OFFSETS[service] + 100 * index
                    env["PRICEALERT_METRICS_PORT"] = str(port)
                self.children.append(
                    Child(
                        name=f"{service}-{index}",
                        service=service,
                        command=service_command(service, host=self.host, port=self.port),
                        env=env,
                    )
                )

    async def run(self) -> int:
        """Start everything; return when stopped by a signal or `stop()`."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        _log.info("supervisor.started", children=[c.name for c in self.children])
        watchers = [asyncio.create_task(self._keep_running(child)) for child in self.children]
        await self._stopping.wait()
        await self._terminate_all()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        _log.info("supervisor.stopped")
        return 0

    def stop(self) -> None:
        self._stopping.set()

    async def _keep_running(self, child: Child) -> None:
        while not self._stopping.is_set():
            child.process = await asyncio.create_subprocess_exec(*child.command, env=child.env)
            child.started_at = time.monotonic()
            _log.info("process.started", child=child.name, pid=child.process.pid)
            code = await child.process.wait()
            if self._stopping.is_set():
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
