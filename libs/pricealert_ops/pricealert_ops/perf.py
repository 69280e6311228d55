"""Performance analysis (plan 7.1, weekly): the slowest statements from `pg_stat_statements`.

The extension needs `shared_preload_libraries = 'pg_stat_statements'` on the
server (RDS: the parameter group) and `CREATE EXTENSION pg_stat_statements`
in the database. Without either, the report is a named error saying which is
missing — never an empty report that looks like "nothing is slow".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from pricealert.errors import PriceAlertError
from pricealert_ops import pg

_STATEMENTS = """
SELECT query, calls, total_exec_time, mean_exec_time, max_exec_time, rows,
       shared_blks_hit, shared_blks_read
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC
LIMIT $1
"""


class StatementsUnavailable(PriceAlertError, code="pg_stat_statements_unavailable"):
    """`pg_stat_statements` is not installed in the database, or the server has not loaded it
    (`shared_preload_libraries`)."""


@dataclass(frozen=True)
class Statement:
    """One normalised statement and its accumulated timings (milliseconds)."""

    query: str
    calls: int
    total_ms: float
    mean_ms: float
    max_ms: float
    rows: int
    cache_hit_ratio: float | None


async def slowest_statements(url: str, limit: int = 10) -> list[Statement]:
    """The statements with the most total execution time in this database."""
    conn = await pg.connect(url)
    try:
        return await _fetch(conn, limit)
    finally:
        await conn.close()


async def _fetch(conn: Any, limit: int) -> list[Statement]:
    installed = await conn.fetchval(
        "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'"
    )
    database = await conn.fetchval("SELECT current_database()")
    if installed is None:
        raise StatementsUnavailable(
            f"pg_stat_statements is not installed in database {database!r}: load it with "
            "shared_preload_libraries = 'pg_stat_statements', then CREATE EXTENSION "
            "pg_stat_statements"
        )
    try:
        rows = await conn.fetch(_STATEMENTS, limit)
    except asyncpg.ObjectNotInPrerequisiteStateError as exc:
        raise StatementsUnavailable(
            f"pg_stat_statements is installed in {database!r} but the server has not loaded "
            f"it ({exc}): add it to shared_preload_libraries and restart PostgreSQL"
        ) from exc
    return [
        Statement(
            query=" ".join(r["query"].split()),
            calls=r["calls"],
            total_ms=r["total_exec_time"],
            mean_ms=r["mean_exec_time"],
            max_ms=r["max_exec_time"],
            rows=r["rows"],
            cache_hit_ratio=(
                r["shared_blks_hit"] / (r["shared_blks_hit"] + r["shared_blks_read"])
                if r["shared_blks_hit"] + r["shared_blks_read"]
                else None
            ),
        )
        for r in rows
    ]


def format_statements(statements: list[Statement], *, width: int = 100) -> list[str]:
    """The readable report: one line of numbers, one of SQL, per statement."""
    if not statements:
        return ["no statements recorded yet (statistics were just reset?)"]
    total = sum(s.total_ms for s in statements) or 1.0
    lines = ["rank   total ms  share     calls   mean ms    max ms   cache hit"]
    for rank, s in enumerate(statements, start=1):
        hit = "-" if s.cache_hit_ratio is None else f"{s.cache_hit_ratio:.1%}"
        lines.append(
            f"{rank:>4} {s.total_ms:>10.1f} {s.total_ms / total:>6.1%} {s.calls:>9} "
            f"{s.mean_ms:>9.2f} {s.max_ms:>9.2f} {hit:>11}"
        )
        query = s.query if len(s.query) <= width else s.query[: width - 1] + "…"
        lines.append(f"       {query}")
    return lines
