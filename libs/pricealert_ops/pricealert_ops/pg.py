"""PostgreSQL helpers for the operations commands: URLs, scratch databases, fingerprints.

A *fingerprint* is what backup verification compares: for each user table, its
row count and a content checksum. The checksum is order-independent and needs
no sort and no giant string: for every row, `md5(row::text)` is split into two
60-bit integers and each is summed over the table (`sum(bigint)` is `numeric`,
so it never overflows); the checksum is the first 32 hex digits of
`sha256("<sum1>:<sum2>")`. Duplicate rows count twice, so any changed, lost or
added row changes it. `row::text` depends on session settings, so every
fingerprinting session pins them (`FINGERPRINT_SETTINGS`: UTC, ISO dates,
shortest-exact floats, hex bytea) — the same data then gives the same checksum
on any server, collation or client.

    PgError                   base (code `pg_failed`)
    ├── DatabaseUnreachable   cannot connect, or the database does not exist
    ├── PgToolMissing         pg_dump / pg_restore not on PATH
    └── PgToolFailed          pg_dump / pg_restore exited non-zero
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg

from pricealert.errors import PriceAlertError, ServiceUnavailable

CHECKSUM_ALGORITHM = "row-md5-sum-v1"

#: Session settings that make `row::text` the same everywhere (see module docstring).
FINGERPRINT_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}

_USER_TABLES = """
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (  -- tables that belong to an extension are not dumped as data
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""

_USER_RELATIONS = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
"""


class PgError(PriceAlertError, code="pg_failed"):
    """A PostgreSQL operation of the operators' tools failed."""


class DatabaseUnreachable(PgError, ServiceUnavailable, code="database_unreachable"):
    """The database does not accept a connection (down, wrong URL, or refused credentials)."""


class PgToolMissing(PgError, code="pg_tool_missing"):
    """A PostgreSQL client program (`pg_dump`, `pg_restore`, `psql`) is not installed or not on
    PATH."""


class PgToolTooOld(PgError, code="pg_dump_too_old"):
    """pg_dump older than the server: it refuses to dump, so refuse before starting."""


class PgToolFailed(PgError, code="pg_tool_failed"):
    """A PostgreSQL client program exited with an error (its last lines are in the message), or did
    not say its version."""


@dataclass(frozen=True)
class TableFingerprint:
    """Row count and content checksum of one table."""

    table: str
    rows: int
    checksum: str


def libpq_url(url: str) -> str:
    """The libpq form (`postgresql://`) of an asyncpg or libpq database URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def database_name(url: str) -> str:
    """The database a URL names."""
    return unquote(urlsplit(libpq_url(url)).path.lstrip("/")) or "postgres"


def with_database(url: str, name: str) -> str:
    """The same server and credentials as `url`, another database."""
    parts = urlsplit(libpq_url(url))
    return urlunsplit(parts._replace(path="/" + quote(name, safe="")))


def tool_args_and_env(url: str) -> tuple[str, dict[str, str]]:
    """URL without its password, and an environment carrying it (never on a command line)."""
    parts = urlsplit(libpq_url(url))
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        parts = parts._replace(netloc=f"{user}{host}{port}")
    return urlunsplit(parts), env


def quote_ident(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def scratch_name(purpose: str) -> str:
    """A fresh database name for a scratch database (`pricealert_<purpose>_<random>`)."""
    return f"pricealert_{purpose}_{os.getpid()}_{secrets.token_hex(4)}"


async def connect(url: str, *, fingerprinting: bool = False) -> Any:
    """An asyncpg connection, or `DatabaseUnreachable` naming the database."""
    settings = FINGERPRINT_SETTINGS if fingerprinting else {}
    try:
        return await asyncpg.connect(libpq_url(url), server_settings=settings)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnreachable(
            f"cannot connect to database {database_name(url)!r}: {exc}"
        ) from exc


@asynccontextmanager
async def _connected(url: str, *, fingerprinting: bool = False) -> AsyncIterator[Any]:
    """`connect`, closing the connection when the block ends."""
    conn = await connect(url, fingerprinting=fingerprinting)
    try:
        yield conn
    finally:
        await conn.close()


async def create_database(server_url: str, name: str) -> None:
    """Create an empty database `name` on the server of `server_url`."""
    async with _connected(with_database(server_url, "postgres")) as conn:
        await conn.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0")


async def drop_database(server_url: str, name: str) -> None:
    """Drop database `name` (if it exists), disconnecting its sessions."""
    async with _connected(with_database(server_url, "postgres")) as conn:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")


async def database_exists(server_url: str, name: str) -> bool:
    """Whether database `name` exists on the server of `server_url`."""
    async with _connected(with_database(server_url, "postgres")) as conn:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    return found is not None


async def is_empty(conn: Any) -> bool:
    """Whether a database holds no user tables, views, sequences or foreign tables."""
    return int(await conn.fetchval(_USER_RELATIONS)) == 0


async def fingerprint(conn: Any) -> list[TableFingerprint]:
    """Fingerprints of every user table, in the connection's current snapshot."""
    result = []
    for row in await conn.fetch(_USER_TABLES):
        qualified = f"{quote_ident(row['schema'])}.{quote_ident(row['name'])}"
        sql = (
            "SELECT count(*) AS n,"  # noqa: S608 - only quoted identifiers are interpolated
            " coalesce(sum(('x' || substr(h, 1, 15))::bit(60)::bigint), 0)::text AS a,"
            " coalesce(sum(('x' || substr(h, 16, 15))::bit(60)::bigint), 0)::text AS b"
            " FROM (SELECT md5(t::text) AS h FROM " + qualified + " AS t) AS rows"
        )
        counted = await conn.fetchrow(sql)
        digest = hashlib.sha256(f"{counted['a']}:{counted['b']}".encode()).hexdigest()[:32]
        result.append(TableFingerprint(f"{row['schema']}.{row['name']}", counted["n"], digest))
    return result


async def fingerprint_database(url: str) -> list[TableFingerprint]:
    """Fingerprints of a whole database, taken in one repeatable-read snapshot."""
    async with (
        _connected(url, fingerprinting=True) as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        return await fingerprint(conn)


def run_pg_tool(
    args: list[str], url: str, *, stdout: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """Start `pg_dump`/`pg_restore` against `url` (password via the environment)."""
    dsn, env = tool_args_and_env(url)
    try:
        return subprocess.Popen(  # noqa: S603 - fixed tool, arguments are a list
            [*args, f"--dbname={dsn}"],
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    except FileNotFoundError as exc:
        raise PgToolMissing(f"{args[0]} is not installed or not on PATH") from exc


def finish_pg_tool(process: subprocess.Popen[bytes], what: str) -> None:
    """Wait for a pg tool; `PgToolFailed` with the tail of its stderr if it failed."""
    _, stderr = process.communicate()
    if process.returncode != 0:
        tail = stderr.decode(errors="replace").strip()[-2000:]
        raise PgToolFailed(f"{what} exited with {process.returncode}: {tail}")


def tool_version(tool: str) -> str:
    """`pg_dump --version` and the like, or `PgToolMissing`."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed tool name from our code
            [tool, "--version"], capture_output=True, check=True, text=True
        )
    except FileNotFoundError as exc:
        raise PgToolMissing(f"{tool} is not installed or not on PATH") from exc
    return done.stdout.strip()


def tool_major(version_text: str) -> int:
    """The major version in `pg_dump (PostgreSQL) 16.4 (Debian ...)`, `... 9.6.24` → 9."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", version_text)
    if match is None:
        raise PgToolFailed(f"cannot read a PostgreSQL version from {version_text!r}")
    major = int(match.group(1))
    return major


def check_dump_tool(version_text: str, server_version_num: int) -> None:
    """Refuse a pg_dump whose major version is older than the server's (it would fail)."""
    tool = tool_major(version_text)
    server = server_version_num // 10000 if server_version_num >= 100000 else 9
    if tool < server:
        raise PgToolTooOld(
            f"{version_text.strip()} cannot dump a PostgreSQL {server} server: install "
            f"postgresql-client-{server} (the image's PG_MAJOR build argument must match "
            "the database's major version)"
        )
