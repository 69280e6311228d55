"""Private Redis and PostgreSQL servers: a drill restarts these, never the machine's own.

Other engineers and CI share the Redis on 6379 and the PostgreSQL on 5432, so
every experiment runs against servers of its own, on free loopback ports, with
their data in a temporary directory that is removed afterwards:

- `PrivateRedis`: `redis-server` without persistence (a restart loses every key,
  as a cache node replaced in production would);
- `PrivatePostgres`: a cluster made with `initdb` and driven with `pg_ctl` (as
  the `postgres` user when run as root, since PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from glob import glob
from pathlib import Path

import asyncpg

from pricealert.db.migrate import upgrade
from pricealert_ops.devtools.stack import free_port

START_TIMEOUT_SECONDS = 30.0
TEMPLATE = "chaos_template"


class ServerError(RuntimeError):
    """A private server could not be started or stopped; the message says which and why."""


async def terminate(process: asyncio.subprocess.Process | None, grace: float = 10) -> None:
    """SIGTERM a child, SIGKILL it after `grace` seconds; nothing when it already ended."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def _port_open(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class PrivateRedis:
    """A `redis-server` of the experiment's own, on a free port, restartable on that port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    def url(self, db: int = 0) -> str:
        """The `redis://` URL of database `db` on this server."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    async def start(self) -> None:
        """Start the server; return once it accepts connections."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerError("redis-server is not installed (apt-get install -y redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(self.workdir)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not await _port_open(self.port):
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise ServerError(f"redis-server did not start on port {self.port}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); every key is gone with it."""
        process, self.process = self.process, None
        await terminate(process)


def _postgres_bin() -> Path:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise ServerError("PostgreSQL server programs (initdb, pg_ctl) are not installed")
    return Path(initdb).parent


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in Path(path).parts[-3].split(".") if part.isdigit())


class PrivatePostgres:
    """A PostgreSQL cluster of the experiment's own: trust auth on 127.0.0.1, a free port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.port = free_port()
        self.bin = _postgres_bin()
        self._as_postgres: list[str] = []
        self._template_ready = False
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str) -> str:
        """The SQLAlchemy asyncpg URL of `database` on this cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def migrated_database(self, name: str) -> str:
        """A fresh database `name` at the migrations' head; returns its URL.

        The first call migrates a template; later ones copy it (a copy takes a fraction
        of a second, migrating takes seconds).
        """
        if not self._template_ready:
            await asyncio.to_thread(upgrade, "head", database_url=self.url(TEMPLATE))
            self._template_ready = True
        connection = await asyncpg.connect(libpq_url(self.url("postgres")))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        finally:
            await connection.close()
        return self.url(name)

    async def create(self) -> None:
        """initdb the cluster and start it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.workdir, user="postgres")
        await self._run(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync"),
        )
        await self.start()

    async def start(self) -> None:
        """Start the cluster; return once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
            # A drill's data is thrown away: durability costs time and buys nothing here.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        await self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.workdir / "server.log")),
            *("-o", options, "-w", "-t", str(int(START_TIMEOUT_SECONDS)), "start"),
        )

    async def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (`immediate` is a crash: no checkpoint, recovery on start)."""
        if not (self.data / "postmaster.pid").exists():
            return
        await self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    async def destroy(self) -> None:
        """Stop the cluster and remove its files."""
        with contextlib.suppress(ServerError):
            await self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def _run(self, *command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            *self._as_postgres,
            *command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise ServerError(
                f"{Path(command[0]).name} failed ({process.returncode}): "
                + output.decode(errors="replace")[-2000:]
            )


def private_workdir(prefix: str) -> Path:
    """A fresh temporary directory that the `postgres` user may use when run as root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def libpq_url(database_url: str) -> str:
    """The asyncpg/libpq spelling of a SQLAlchemy URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
