"""The real PriceAlert stack as processes: for end-to-end tests, the demo, benchmarks and chaos.

`Stack` runs `python -m pricealert run all` (the supervisor `make run` uses) in
a process group of its own, against the database and Redis you give it, with
an OS-assigned API port, short scraper and sweeper intervals, and every log
line (supervisor and children share one stdout) in a file:

    async with Stack(database_url, redis_url, allowed_hosts=[shop.netloc()]) as stack:
        stack.api_url                               # "http://127.0.0.1:41234"
        stack.web_url                               # the web UI, on a port of its own
        [c.service for c in stack.children()]       # ["api", "evaluator", ..., "web"]
        pid = stack.kill("notifier")                # SIGKILL one child; the supervisor restarts it
        await stack.wait_ready()                    # back to full strength
        stack.log_path.read_text()                  # what every process said
        async with Api(stack.api_url) as api:       # the HTTP API, as a user drives it
            await api.sign_up("ada@example.com")
            await api.call("POST", "/v1/products", {"url": shop.url("/p/1")})

The database must be migrated (`fresh_database_url` is). `start()` returns once
`/readyz` answers 200 and every worker has logged `worker.started`; leaving the
block sends SIGTERM to the supervisor (which drains its children), then
SIGKILL to whatever is left in the group, so nothing outlives the stack.
Children are found by scanning /proc for the supervisor's children, so this
works on Linux only (as the services' deployment does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from pricealert.supervised import METRICS_PORT_OFFSETS

WORKERS = ("scraper", "evaluator", "notifier")

#: Fast enough for a test to see a lost job re-issued within seconds. The scraper's lease
#: is at least its check timeout + 10 s (arq's in-progress margin); the notifier's
#: delivery lease exceeds its job timeout.
FAST_SETTINGS: Mapping[str, str] = {
    "PRICEALERT_ENVIRONMENT": "test",
    "PRICEALERT_CLAIM_INTERVAL_SECONDS": "0.2",
    "PRICEALERT_LEASE_SECONDS": "20",
    "PRICEALERT_DELIVERY_LEASE_SECONDS": "20",
    "PRICEALERT_JOB_TIMEOUT_SECONDS": "10",
    "PRICEALERT_CHECK_TIMEOUT_SECONDS": "10",
    "PRICEALERT_HTTP_TIMEOUT_SECONDS": "5",
    "PRICEALERT_PER_DOMAIN_DELAY_SECONDS": "0",
    "PRICEALERT_SWEEP_INTERVAL_SECONDS": "2",
    "PRICEALERT_SWEEP_AFTER_SECONDS": "5",
    "PRICEALERT_SWEEP_GRACE_SECONDS": "0",
    "PRICEALERT_RETRY_BASE_SECONDS": "0.5",
    "PRICEALERT_DATABASE_POOL_SIZE": "15",  # the peak it had as 5 + 10 overflow
}


class StackError(RuntimeError):
    """The stack did not come up (or a child was not found); the message says which and why."""


@dataclass(frozen=True)
class ChildProcess:
    pid: int
    service: str  # api | web | scraper | evaluator | notifier
    instance: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def free_metrics_base(instances: int = 1) -> int:
    """A base whose worker metrics ports (base+1..3, +100 per instance) are all free now."""
    for _ in range(50):
        base = free_port() - 1
        ports = [
            base + offset + 100 * index
            for offset in METRICS_PORT_OFFSETS.values()
            for index in range(instances)
        ]
        if all(_port_free(port) for port in ports):
            return base
    raise StackError("found no free range of metrics ports")


def _port_free(port: int) -> bool:
    if port >= 65536:
        return False
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Stack:
    """The five services under one supervisor process (see the module docstring)."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        *,
        allowed_hosts: Iterable[str] = (),
        instances: int = 1,
        metrics_port_base: int = 0,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.instances = instances
        self.metrics_port_base = metrics_port_base
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.web_port = free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="pricealert-stack-"))
        self.log_path = self.log_dir / "stack.log"
        self.env = self._environment(list(allowed_hosts), env or {})
        self.supervisor: asyncio.subprocess.Process | None = None
        self._last_group: int | None = None

    async def __aenter__(self) -> Stack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def metrics_url(self, service: str, instance: int = 0) -> str:
        """A worker's /metrics URL (needs `metrics_port_base`); the API's is `api_url/metrics`."""
        if service == "api":
            return f"{self.api_url}/metrics"
        if not self.metrics_port_base:
            raise StackError("worker metrics are off: pass metrics_port_base (free_metrics_base())")
        port = self.metrics_port_base + METRICS_PORT_OFFSETS[service] + 100 * instance
        return f"http://127.0.0.1:{port}/metrics"

    async def start(self) -> None:
        """Start the supervisor; return when the API is ready and every worker has started."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pricealert", "run", "all"]
        command += ["--instances", str(self.instances), "--host", "127.0.0.1"]
        command += ["--port", str(self.api_port), "--web-port", str(self.web_port)]
        command += ["--metrics-port-base", str(self.metrics_port_base)]
        command += ["--lock-file", str(self.log_dir / "run.lock")]  # one run per stack
        with self.log_path.open("ab") as log:
            self.supervisor = await asyncio.create_subprocess_exec(
                *command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() can sweep it whole
            )
        try:
            await self.wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def wait_ready(self, minimum_started: Mapping[str, int] | None = None) -> None:
        """Wait for /readyz 200 and `worker.started` logged (by default once per worker instance).

        After killing a worker, pass the count it must reach, e.g. `{"notifier": 2}`.
        """
        wanted = dict(minimum_started or dict.fromkeys(WORKERS, self.instances))
        deadline = time.monotonic() + self.ready_timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                self._raise_if_exited()
                started = self.started_counts()
                workers_up = all(started[name] >= count for name, count in wanted.items())
                if (
                    workers_up
                    and await _ready(client, f"{self.api_url}/readyz")
                    and await _ready(client, f"{self.web_url}/readyz")
                ):
                    return
                if time.monotonic() > deadline:
                    raise StackError(
                        f"the stack was not ready within {self.ready_timeout:.0f} s "
                        f"(started {dict(started)}, wanted {wanted}); see {self.log_path}:\n"
                        + self.log_tail()
                    )
                await asyncio.sleep(0.2)

    def started_counts(self) -> Counter[str]:
        """How many times each worker service has logged `worker.started` so far."""
        counts: Counter[str] = Counter()
        for record in self.log_records():
            if record.get("message") == "worker.started":
                counts[str(record.get("service"))] += 1
        return counts

    def log_records(self) -> list[dict[str, object]]:
        """Every JSON log line written so far (arq's plain-text banner lines are skipped)."""
        records = []
        if self.log_path.exists():
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        records.append(json.loads(line))
        return records

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the log, for failure messages."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def children(self) -> list[ChildProcess]:
        """The supervisor's live children, read from /proc."""
        if self.supervisor is None:
            return []
        found = []
        for pid in _child_pids(self.supervisor.pid):
            service = _service_of(pid)
            if service is not None:
                found.append(ChildProcess(pid, service, _instance_of(pid)))
        return sorted(found, key=lambda c: (c.service, c.instance))

    def kill(self, service: str, instance: int = 0, sig: int = signal.SIGKILL) -> int:
        """Send `sig` to one child (the supervisor restarts it after a backoff); returns its pid."""
        for child in self.children():
            if (child.service, child.instance) == (service, instance):
                os.kill(child.pid, sig)
                return child.pid
        raise StackError(f"no running {service} instance {instance}: {self.children()}")

    def processes(self) -> list[int]:
        """Every live process in the stack's process group (empty once stopped)."""
        group = self.supervisor.pid if self.supervisor else self._last_group
        return [] if group is None else processes_in_group(group)

    async def stop(self) -> None:
        """SIGTERM the supervisor (children drain), then SIGKILL anything left in the group."""
        process, self.supervisor = self.supervisor, None
        if process is None:
            return
        self._last_group = process.pid
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), self.stop_timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        # SIGKILL is asynchronous: wait (boundedly) until the group's members are gone.
        deadline = time.monotonic() + 5.0
        while self._group_alive(process.pid) and time.monotonic() < deadline:  # noqa: ASYNC110 - /proc has no event to await
            await asyncio.sleep(0.05)

    @staticmethod
    def _group_alive(group: int) -> bool:
        return bool(processes_in_group(group))

    def _raise_if_exited(self) -> None:
        if self.supervisor is not None and self.supervisor.returncode is not None:
            raise StackError(
                f"the supervisor exited with {self.supervisor.returncode}; "
                f"see {self.log_path}:\n{self.log_tail()}"
            )

    def _environment(
        self, allowed_hosts: list[str], overrides: Mapping[str, str]
    ) -> dict[str, str]:
        # A developer's own PRICEALERT_* settings must not leak into a test stack.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRICEALERT_")}
        env.update(FAST_SETTINGS)
        env.update(
            {
                "PRICEALERT_DATABASE_URL": self.database_url,
                "PRICEALERT_REDIS_URL": self.redis_url,
                "PRICEALERT_FETCH_ALLOWED_HOSTS": ",".join(allowed_hosts),
                "PRICEALERT_PUBLIC_BASE_URL": self.api_url,
                "PRICEALERT_WEB_BASE_URL": self.web_url,
                "PRICEALERT_API_URL": self.api_url,
            }
        )
        env.update(overrides)
        if env.get("PRICEALERT_LOG_LEVEL", "INFO").upper() not in {"DEBUG", "INFO"}:
            # Readiness is read from the workers' `worker.started` lines, logged at INFO.
            raise StackError("the stack needs PRICEALERT_LOG_LEVEL at INFO or DEBUG")
        return env


async def reset_database(database_url: str) -> None:
    """Drop the database `database_url` names (the caller migrates it afresh)."""
    import asyncpg

    parts = urlsplit(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    name = parts.path.lstrip("/").replace('"', '""')
    connection = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def with_path(url: str, path: str) -> str:
    """`url` naming another database (`/pricealert_demo`) or Redis db number (`/7`)."""
    return urlunsplit(urlsplit(url)._replace(path=path))


class Api:
    """The HTTP API as a user drives it: `sign_up` once, then `call` with that key."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.http.aclose()

    async def sign_up(self, email: str) -> str:
        """Create a user; later calls carry its API key, which is returned."""
        body = await self.call("POST", "/v1/users", {"email": email})
        key = str(body["api_key"])
        self.http.headers["Authorization"] = f"Bearer {key}"
        return key

    async def call(
        self, method: str, path: str, body: object = None, *, key: str | None = None
    ) -> Any:
        """One request (as the user whose `key` is given, else the last signed up); a status
        outside 2xx raises `StackError` with the problem document."""
        headers = {"Authorization": f"Bearer {key}"} if key else None
        response = await self.http.request(method, path, json=body, headers=headers)
        if not response.is_success:
            raise StackError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else None


async def _ready(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


def processes_in_group(group: int) -> list[int]:
    """Live (not zombie) processes whose process group is `group`."""
    return [pid for pid in _all_pids() if _pgid(pid) == group]


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat_fields(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    # The command name may hold spaces and parentheses: fields start after the last ")".
    return raw.rsplit(")", 1)[1].split()


def _pgid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # fields[0] is the state; a zombie is already dead, only not yet reaped.
    return int(fields[2]) if fields and fields[0] != "Z" else None


def _child_pids(parent: int) -> list[int]:
    return [
        pid
        for pid in _all_pids()
        if (fields := _stat_fields(pid)) and fields[0] != "Z" and int(fields[1]) == parent
    ]


def _service_of(pid: int) -> str | None:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for arg in (a.decode(errors="replace") for a in argv):
        if arg in ("services.api.main:app", "services.web.main:app"):
            return arg.split(".")[1]
        if arg.startswith("services.") and arg.endswith(".worker.WorkerSettings"):
            return arg.split(".")[1]
    return None


def _instance_of(pid: int) -> int:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return 0
    for entry in environ:
        if entry.startswith(b"PRICEALERT_SERVICE_INSTANCE="):
            return int(entry.split(b"=", 1)[1] or 0)
    return 0
