"""EXPLAIN ANALYZE of the exact SQL the read endpoints send, captured from the repositories.

The statements are not rewritten by hand: the repositories run once against the
benchmark database while a cursor hook records what they send, and each is
then explained with its own parameters. The report names the indexes each plan
uses and whether any step scans a whole table.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from pricealert.models import Watch
from pricealert.repositories.prices import PriceRepository
from pricealert.repositories.products import ProductRepository
from pricealert.repositories.users import UserRepository
from scripts.bench.api_data import BENCH_KEY
from scripts.bench.common import async_url


async def explain_read_paths(database: str, user_id: str, watch_id: str) -> dict[str, Any]:
    """Plan summary (indexes, full scans, time) of each read endpoint's statements."""
    engine = create_async_engine(async_url(database))
    captured: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    owner, watch = uuid.UUID(user_id), uuid.UUID(watch_id)
    now = datetime.now(UTC)
    calls: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "authenticate": lambda s: UserRepository(s).authenticate(BENCH_KEY, now),
        "product_by_id": lambda s: ProductRepository(s).get(owner, watch),
        "list_first_page": lambda s: ProductRepository(s).list_page(owner, None, 50),
        "price_history_90d": lambda s: _history(s, owner, watch, now - timedelta(days=90)),
        "stats": lambda s: _stats(s, owner, watch, now),
    }
    report: dict[str, Any] = {}
    try:
        async with AsyncSession(engine) as session:
            await session.scalar(select(Watch.id).limit(1))  # connect before capturing
            for name, call in calls.items():
                captured.clear()
                await call(session)
                statement, parameters = captured[-1]
                connection = await session.connection()
                plan = (
                    await connection.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
                    )
                ).scalar_one()
                report[name] = _summary(plan[0])
    finally:
        await engine.dispose()
    return report


async def _history(session: AsyncSession, owner: uuid.UUID, watch: uuid.UUID, since: Any) -> Any:
    watched = await ProductRepository(session).get(owner, watch)
    return await PriceRepository(session).history(watched.product.id, since, None)


async def _stats(session: AsyncSession, owner: uuid.UUID, watch: uuid.UUID, now: Any) -> Any:
    watched = await ProductRepository(session).get(owner, watch)
    return await PriceRepository(session).stats(watched.product, now)


def _summary(plan: dict[str, Any]) -> dict[str, Any]:
    indexes: set[str] = set()
    seq_scans: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        if node.get("Node Type") == "Seq Scan":
            seq_scans.add(node.get("Relation Name", "?"))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return {
        "indexes": sorted(indexes),
        "seq_scans": sorted(seq_scans),
        "execution_ms": round(plan["Execution Time"], 3),
        "shared_blocks": plan["Plan"].get("Shared Read Blocks", 0)
        + plan["Plan"].get("Shared Hit Blocks", 0),
    }
