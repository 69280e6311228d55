"""EXPLAIN ANALYZE of the exact SQL the read endpoints send.

The statements are not rewritten by hand: the key lookup is captured from the
repository by a cursor hook while it runs against the benchmark database; the
product reads are the repository functions' own SQL texts (they run them on the
driver connection), explained with the arguments those functions pass. The report
names the indexes each plan uses and whether any step scans a whole table.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from pricealert.repositories import prices, products
from pricealert.repositories.users import UserRepository
from scripts.bench.api_data import BENCH_KEY
from scripts.bench.common import explain_last_statement, plain_url, plan_scans


async def explain_read_paths(database: str, user_id: str, watch_id: str) -> dict[str, Any]:
    """Plan summary (indexes, full scans, time) of each read endpoint's statements: the
    key lookup as SQLAlchemy sends it, the product reads as their repository functions
    send them on the driver connection (the same SQL texts and arguments)."""
    owner, watch = uuid.UUID(user_id), uuid.UUID(watch_id)
    now = datetime.now(UTC)
    report = {"authenticate": await _explain_key_lookup(database, now)}
    reads: dict[str, tuple[str, tuple[Any, ...]]] = {
        "product_by_id": (products._ONE, (owner, watch)),
        "list_first_page": (products._FIRST_PAGE, (owner, 51)),
        "price_history_90d": (
            prices._HISTORY_SQL[True, False],
            (owner, watch, prices.MAX_HISTORY_ROWS, now - timedelta(days=90)),
        ),
        "stats": (
            prices._STATS_SQL,
            (owner, watch, now, now - timedelta(days=30), now - timedelta(days=90)),
        ),
    }
    connection = await asyncpg.connect(plain_url(database))
    try:
        for name, (sql, args) in reads.items():
            plan = await connection.fetchval(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args
            )
            report[name] = _summary(json.loads(plan)[0])
    finally:
        await connection.close()
    return report


async def _explain_key_lookup(database: str, now: datetime) -> dict[str, Any]:
    async def authenticate(session: AsyncSession) -> object:
        return await UserRepository(session).authenticate(BENCH_KEY, now)

    return _summary(await explain_last_statement(database, authenticate))


def _summary(plan: dict[str, Any]) -> dict[str, Any]:
    indexes, seq_scans = plan_scans(plan["Plan"])
    return {
        "indexes": sorted(indexes),
        "seq_scans": sorted(seq_scans),
        "execution_ms": round(plan["Execution Time"], 3),
        "shared_blocks": plan["Plan"].get("Shared Read Blocks", 0)
        + plan["Plan"].get("Shared Hit Blocks", 0),
    }
